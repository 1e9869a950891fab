"""Data transforms of mmblend (registered in mmdet's ``TRANSFORMS``)."""
from .loading import (
    BadImageError,
    ImageProblem,
    LoadImageFromFile,
    check_image_bytes,
)

__all__ = [
    'BadImageError', 'ImageProblem', 'LoadImageFromFile', 'check_image_bytes'
]
