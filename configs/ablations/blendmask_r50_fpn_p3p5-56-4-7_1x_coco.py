# Table 4, row "P3, P5", and Table 5, row "nearest": the bottom module on
# FPN P3+P5 (56_4_7, RoIAlign bottom, nearest top interpolation), i.e. the
# second ablation base itself.
_base_ = './_base_/blendmask_r50_ablation_p3p5.py'
