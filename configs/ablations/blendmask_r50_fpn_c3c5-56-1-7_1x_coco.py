# Table 3, row K=1: the 56_1_7 model (C3+C5, nearest top interpolation);
# with one basis the blender applies sigmoid to both the cropped basis and
# the attention (paper §4.1).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(mask_head=dict(basis=dict(num_bases=1)))
