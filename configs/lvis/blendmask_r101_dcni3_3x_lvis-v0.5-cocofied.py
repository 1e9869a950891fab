# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask_r101-dcni3_fpn_ms-3x_coco_lvis-v0.5-cocofied.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/lvis/blendmask_r101_dcni3_3x_lvis-v0.5-cocofied.py is renamed to '
    'configs/lvis/blendmask_r101-dcni3_fpn_ms-3x_coco_lvis-v0.5-cocofied.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
