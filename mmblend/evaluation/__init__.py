"""Evaluation components of mmblend: :class:`CompatLVISMetric` and
:class:`CocoKeypointMetric` in mmdet's ``METRICS``. The evaluation shims
(``panopticapi`` fallback, lvis numpy-2) are in :mod:`mmblend.compat`,
applied by ``import mmblend``."""

from .bad_image_evaluator import BadImageEvaluator
from .metrics import CocoKeypointMetric, CompatLVISMetric

__all__ = ['BadImageEvaluator', 'CocoKeypointMetric', 'CompatLVISMetric']
