# Renamed (configs/README.md, "Names"): this old path works, with a
# warning, until mmblend 0.2.
_base_ = (
    './blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py'
)

import warnings  # noqa: E402

warnings.warn(
    'configs/panoptic/blendmask_panoptic_tiny_sample.py is renamed to '
    'configs/panoptic/'
    'blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py '
    '(the old name is removed in mmblend 0.2)',
    FutureWarning,
)
