# Table 7, "Proto-FPN" (width 128): P3/P4/P5 each to 128 channels by a 3x3
# conv, summed at stride 8, then the Proto-P3 tower less one conv (2 convs,
# x2 upsampling, 1 conv, 1x1) -> bases at stride 4; with "+semantic".
_base_ = [
    './blendmask_r50_fpn_p3p5-56-4-14-bilinear-sem_1x_coco.py',
    '../_base_/basis/protonet_basis.py',
]
model = dict(mask_head=dict(basis=dict(_base_.protonet_basis, _delete_=True)))
