"""Data transforms of mmblend (registered in mmdet's ``TRANSFORMS``)."""

from .keypoints import (
    LoadAnnotationsWithKeypoints,
    PackDetInputsWithKeypoints,
    RandomCropWithKeypoints,
    RandomFlipWithKeypoints,
    ResizeWithKeypoints,
    flip_keypoints,
)
from .loading import (
    BadImageError,
    ImageProblem,
    LoadCheckedImageFromFile,
    check_image_bytes,
)

__all__ = [
    'BadImageError',
    'ImageProblem',
    'LoadAnnotationsWithKeypoints',
    'LoadCheckedImageFromFile',
    'PackDetInputsWithKeypoints',
    'RandomCropWithKeypoints',
    'RandomFlipWithKeypoints',
    'ResizeWithKeypoints',
    'check_image_bytes',
    'flip_keypoints',
]
