# Table 7, "Proto-P3": YOLACT's ProtoNet (width 256) on P3 as the bottom
# module: 3 convs, x2 upsampling, 1 conv, 1x1 conv -> bases at stride 4;
# with "+semantic".
_base_ = ['./t7_semantic.py', '../_base_/basis/protonet_basis.py']
model = dict(
    mask_head=dict(
        basis=dict(
            _base_.protonet_basis,
            _delete_=True,
            in_indices=(0, ),  # P3 only: no refinement convs
            channels=256,
            num_convs=3)))
