"""Evaluation components of mmblend: :class:`CompatLVISMetric` in mmdet's
``METRICS``. The evaluation shims (``panopticapi`` fallback, lvis numpy-2)
are in :mod:`mmblend.compat`, applied by ``import mmblend``."""
from .bad_image_evaluator import BadImageEvaluator
from .metrics import CompatLVISMetric

__all__ = ['BadImageEvaluator', 'CompatLVISMetric']
