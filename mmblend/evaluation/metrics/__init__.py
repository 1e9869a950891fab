"""Metrics registered in mmdet's ``METRICS`` registry."""

from .coco_keypoint_metric import CocoKeypointMetric
from .compat_lvis_metric import CompatLVISMetric

__all__ = ['CocoKeypointMetric', 'CompatLVISMetric']
