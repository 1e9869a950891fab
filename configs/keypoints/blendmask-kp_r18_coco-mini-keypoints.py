# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = './blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py'

import warnings  # noqa: E402

warnings.warn(
    'configs/keypoints/blendmask-kp_r18_coco-mini-keypoints.py is renamed to '
    'configs/keypoints/'
    'blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
