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
    LoadImageFromFile,
    check_image_bytes,
)

__all__ = [
    'BadImageError', 'ImageProblem', 'LoadAnnotationsWithKeypoints',
    'LoadImageFromFile', 'PackDetInputsWithKeypoints',
    'RandomCropWithKeypoints', 'RandomFlipWithKeypoints',
    'ResizeWithKeypoints', 'check_image_bytes', 'flip_keypoints'
]
