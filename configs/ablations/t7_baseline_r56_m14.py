# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask_r50_fpn_p3p5-56-4-14-bilinear_1x_coco.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/ablations/t7_baseline_r56_m14.py is renamed to '
    'configs/ablations/blendmask_r50_fpn_p3p5-56-4-14-bilinear_1x_coco.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
