# Table 5, row "bilinear", and Table 6, R=56, bottom sampling "bilinear"
# (RoIAlign, sampling ratio 1): bilinear top interpolation (P3+P5, 56_4_7).
_base_ = './_base_/blendmask_r50_ablation_p3p5.py'
model = dict(mask_head=dict(blender=dict(top_interp='bilinear')))
