# Table 7, "Proto-FPN" (width 128): P3/P4/P5 each to 128 channels by a 3x3
# conv, summed at stride 8, then the Proto-P3 tower less one conv (2 convs,
# x2 upsampling, 1 conv, 1x1) -> bases at stride 4; with "+semantic".
_base_ = './t7_semantic.py'
model = dict(
    mask_head=dict(
        basis=dict(
            _delete_=True, type='ProtoNetBasis', in_channels=256,
            in_indices=(0, 1, 2), out_stride=4, channels=128,
            refine_channels=128, num_convs=2, num_bases=4, num_classes=80,
            sem_in_index=0),
        blender=dict(bases_stride=4)))
