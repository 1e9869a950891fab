# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask-light_r18_fpn_1xb8-1200iter_coco128.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/demo/blendmask_r18_coco128_demo.py is renamed to '
    'configs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
