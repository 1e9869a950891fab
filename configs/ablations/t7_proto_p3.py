# Table 7, "Proto-P3": YOLACT's ProtoNet (width 256) on P3 as the bottom
# module: 3 convs, x2 upsampling, 1 conv, 1x1 conv -> bases at stride 4;
# with "+semantic".
_base_ = './t7_semantic.py'
model = dict(
    mask_head=dict(
        basis=dict(
            _delete_=True, type='ProtoNetBasis', in_channels=256,
            in_indices=(0, ), out_stride=4, channels=256, num_convs=3,
            num_bases=4, num_classes=80, sem_in_index=0),
        blender=dict(bases_stride=4)))
