# Table 6, R=28, bottom sampling "nearest" (RoIPool, quantised bins);
# bilinear top interpolation, K=4, M=7, P3+P5.
_base_ = './_base_/blendmask_r50_ablation_p3p5.py'
model = dict(
    mask_head=dict(
        blender=dict(
            bottom_resolution=28, pooler='RoIPool', top_interp='bilinear'
        )
    )
)
