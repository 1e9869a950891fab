# Table 3, row K=2: the 56_2_7 model (C3+C5, nearest top interpolation).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(mask_head=dict(basis=dict(num_bases=2)))
