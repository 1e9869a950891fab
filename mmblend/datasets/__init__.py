"""Dataset components of mmblend.

mmblend uses mmdet's datasets (``CocoDataset``, ``LVISV1Dataset``,
``CocoPanopticDataset``, ...) unchanged; the dataset configs live in
``configs/_base_/datasets``. Importing this package first installs the
``panopticapi`` fallback (see :mod:`mmblend.evaluation.panopticapi_compat`),
so that it is in place before mmdet's dataset / evaluation modules are
imported through mmblend.
"""
from ..evaluation.panopticapi_compat import install_panopticapi_alias

install_panopticapi_alias()

from .coco_instance_dataset import CocoInstanceDataset  # noqa: E402

__all__ = ['CocoInstanceDataset']
