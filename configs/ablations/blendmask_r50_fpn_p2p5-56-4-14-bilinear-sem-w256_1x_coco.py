# Table 7, "+s/4": bases at stride 4 from FPN P2+P5, on top of "+semantic"
# and width 256. The FPN gains P2 (start_level=0, outputs P2..P7); FCOS
# keeps P3..P7; the semantic head stays on P3.
_base_ = './blendmask_r50_fpn_p3p5-56-4-14-bilinear-sem-w256_1x_coco.py'
model = dict(
    neck=dict(start_level=0, num_outs=6),
    bbox_head=dict(feat_indices=(1, 2, 3, 4, 5)),
    mask_head=dict(
        basis=dict(in_indices=(0, 3), out_stride=4, sem_in_index=1)
    ),
)
