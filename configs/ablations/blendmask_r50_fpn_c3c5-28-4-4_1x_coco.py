# Table 1, "Blender", and Table 2, row R=28, M=4: the 28_4_4 model (R=28,
# K=4, M=4; C3+C5, nearest top interpolation).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(mask_head=dict(blender=dict(bottom_resolution=28, attn_size=4)))
