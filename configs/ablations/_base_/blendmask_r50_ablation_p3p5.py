# Ablation base from Table 4 on: the bottom module reads FPN P3+P5 instead
# of backbone C3+C5 (§4.1 "In later experiments, if not specified, we use
# P3 and P5 of FPN as our bottom module input"). Everything else as
# blendmask_r50_ablation.py (56_4_7, nearest top interpolation).
_base_ = './blendmask_r50_ablation.py'
model = dict(
    mask_head=dict(
        # in_channels=None: the neck's out_channels (as the main model)
        basis=dict(feat_source='neck', in_indices=(0, 2), in_channels=None)
    )
)
