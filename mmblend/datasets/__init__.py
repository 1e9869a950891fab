"""Dataset components of mmblend.

mmblend uses mmdet's datasets (``CocoDataset``, ``LVISV1Dataset``,
``CocoPanopticDataset``, ...) unchanged; the dataset configs live in
``configs/_base_/datasets``. The ``panopticapi`` fallback that mmdet's
panoptic dataset pipeline needs is installed before this package is
imported, by :mod:`mmblend.compat` (``import mmblend``).
"""

from .coco_instance_dataset import CocoInstanceDataset
from .coco_keypoint_dataset import CocoKeypointDataset
from .transforms import LoadCheckedImageFromFile

__all__ = [
    'CocoInstanceDataset',
    'CocoKeypointDataset',
    'LoadCheckedImageFromFile',
]
