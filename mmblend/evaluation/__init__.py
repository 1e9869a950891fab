"""Evaluation components of mmblend.

Importing this package (done by ``import mmblend``):

1. makes :mod:`mmblend.evaluation.panopticapi_compat` importable as
   ``panopticapi`` when the official panopticapi (not on PyPI) is absent, and
   fills it into mmdet modules imported earlier, so mmdet's
   ``CocoPanopticMetric`` and ``LoadPanopticAnnotations`` work;
2. applies the lvis numpy-2 shim (:mod:`mmblend.evaluation.lvis_compat`);
3. registers :class:`CompatLVISMetric` in mmdet's ``METRICS``.

Steps 1 and 2 run before any mmdet evaluation module is imported from here.
"""
from .panopticapi_compat import install_panopticapi_alias

install_panopticapi_alias()

from .lvis_compat import patch_lvis_numpy  # noqa: E402

patch_lvis_numpy()

from .metrics import CompatLVISMetric  # noqa: E402

__all__ = [
    'CompatLVISMetric', 'install_panopticapi_alias', 'patch_lvis_numpy'
]
