# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask_r101-caffe-dcni3_fpn_ms-crop-5x_coco.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/adelaidet_zoo/blendmask_r101_dcni3_5x.py is renamed to '
    'configs/adelaidet_zoo/blendmask_r101-caffe-dcni3_fpn_ms-crop-5x_coco.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
