"""Metrics registered in mmdet's ``METRICS`` registry."""
from .compat_lvis_metric import CompatLVISMetric

__all__ = ['CompatLVISMetric']
