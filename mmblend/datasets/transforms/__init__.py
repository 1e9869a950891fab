"""Data transforms of mmblend (registered in mmdet's ``TRANSFORMS``)."""
from .loading import (
    BadImageError,
    ImageProblem,
    LoadCheckedImageFromFile,
    check_image_bytes,
)

__all__ = [
    'BadImageError', 'ImageProblem', 'LoadCheckedImageFromFile',
    'check_image_bytes'
]
