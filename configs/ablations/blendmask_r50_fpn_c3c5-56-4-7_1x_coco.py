# The ablation baseline 56_4_7 itself (K=4, C3+C5, RoIAlign bottom, nearest
# top interpolation): Table 2, row R=56, M=7; Table 3, row K=4; Table 4,
# row "C3, C5".
_base_ = './_base_/blendmask_r50_ablation.py'
