# Table 4, row "P3, P5": bottom module on FPN P3+P5 (56_4_7, RoIAlign
# bottom, nearest top).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(
    mask_head=dict(
        basis=dict(feat_source='neck', in_indices=(0, 2), in_channels=256)))
