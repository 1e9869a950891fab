# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask-light_effnet-lite0_fpn_1xb8-800iter_coco128.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/demo/blendmask_effnet-lite0_fpn_coco128.py is renamed to '
    'configs/demo/blendmask-light_effnet-lite0_fpn_1xb8-800iter_coco128.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
