from .blender import Blender
from .keypoint_blender import (
    KeypointBlender,
    heatmaps_to_keypoints,
    keypoint_targets,
)
from .roi_pool import RoIPool

__all__ = [
    'Blender',
    'KeypointBlender',
    'RoIPool',
    'heatmaps_to_keypoints',
    'keypoint_targets',
]
