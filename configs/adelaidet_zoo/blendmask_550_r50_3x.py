# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask_r50-caffe_fpn_ms-550-3x_coco.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/adelaidet_zoo/blendmask_550_r50_3x.py is renamed to '
    'configs/adelaidet_zoo/blendmask_r50-caffe_fpn_ms-550-3x_coco.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
