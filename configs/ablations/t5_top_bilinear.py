# Table 5, row "bilinear": bilinear top interpolation (P3+P5, 56_4_7,
# RoIAlign bottom).
_base_ = './_base_/blendmask_r50_ablation_p3p5.py'
model = dict(mask_head=dict(blender=dict(top_interp='bilinear')))
