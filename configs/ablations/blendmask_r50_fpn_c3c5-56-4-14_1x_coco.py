# Table 2, row R=56, M=14 (K=4, C3+C5, nearest top interpolation).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(mask_head=dict(blender=dict(bottom_resolution=56, attn_size=14)))
