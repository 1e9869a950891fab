# Table 1, "Blender": the 28_4_4 model (R=28, K=4, M=4).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(
    mask_head=dict(blender=dict(bottom_resolution=28, attn_size=4)))
