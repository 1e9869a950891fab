# Table 3, row K=8: the 56_8_7 model (C3+C5, nearest top interpolation).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(mask_head=dict(basis=dict(num_bases=8)))
