# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask-rt_r50_fpn_ms-550-3x_coco.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/blendmask_rt_r50_3x.py is renamed to '
    'configs/blendmask-rt_r50_fpn_ms-550-3x_coco.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
