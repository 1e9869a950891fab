# Table 7, "Proto-P3": YOLACT's ProtoNet (width 256) on P3 as the bottom
# module: 3 convs, x2 upsampling, 1 conv, 1x1 conv -> bases at stride 4;
# with "+semantic".
_base_ = [
    './blendmask_r50_fpn_p3p5-56-4-14-bilinear-sem_1x_coco.py',
    '../_base_/basis/protonet_basis.py',
]
model = dict(
    mask_head=dict(
        basis=dict(
            _base_.protonet_basis,
            _delete_=True,
            in_indices=(0,),  # P3 only: no refinement convs
            channels=256,
            num_convs=3,
        )
    )
)
