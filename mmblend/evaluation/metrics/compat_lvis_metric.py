"""LVIS metric that works with numpy 2."""

from mmdet.evaluation.metrics import LVISMetric
from mmdet.registry import METRICS

from ...compat.lvis_numpy import patch_lvis_numpy


@METRICS.register_module()
class CompatLVISMetric(LVISMetric):
    """mmdet's :class:`~mmdet.evaluation.LVISMetric`, safe on numpy >= 1.24.

    lvis-api 0.5.3 (the ``lvis`` package on PyPI) uses the removed
    ``np.float`` alias in ``LVISEval.accumulate``. Constructing this metric
    makes sure the narrowly scoped shim
    :func:`mmblend.compat.lvis_numpy.patch_lvis_numpy` (which only
    changes the ``np`` name inside ``lvis.eval``) is active; everything else,
    arguments and results included, is mmdet's ``LVISMetric`` unchanged.

    Use it in configs as ``dict(type='CompatLVISMetric', ...)``. (After
    ``import mmblend`` the shim is active anyway, so mmdet's own
    ``LVISMetric`` works too.)
    """

    def __init__(self, *args, **kwargs) -> None:
        patch_lvis_numpy()
        super().__init__(*args, **kwargs)
