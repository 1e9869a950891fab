# Table 7, first row: the 56_4_14 model with bilinear top interpolation on
# P3+P5 (DeepLabV3+ width 128, no semantic loss).
_base_ = './_base_/blendmask_r50_ablation_p3p5.py'
model = dict(mask_head=dict(blender=dict(attn_size=14, top_interp='bilinear')))
