# Table 4, row "C3, C5": bottom module on backbone C3+C5 (56_4_7, RoIAlign
# bottom, nearest top) = the ablation baseline itself.
_base_ = './_base_/blendmask_r50_ablation.py'
