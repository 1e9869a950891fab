"""numpy-2 compatibility shim for the ``lvis`` package (lvis-api 0.5.3).

``lvis.eval.LVISEval.accumulate`` calls ``.astype(dtype=np.float)``; the
``np.float`` alias was removed in numpy 1.24, so LVIS evaluation (and mmdet's
``LVISMetric``) crashes with ``AttributeError`` on numpy 2.

Rather than editing the installed package or setting ``numpy.float`` globally
(which would leak into user code), :func:`patch_lvis_numpy` replaces the name
``np`` **inside the ``lvis.eval`` module only** by :class:`NumpyAliasProxy`, a
module object that forwards every attribute to numpy and additionally
provides the removed scalar aliases (``float``, ``int``, ``bool``, ``object``,
``str``, ``complex``). ``numpy`` itself is left untouched. The patch is
applied by :func:`mmblend.compat.apply_all` (i.e. by ``import mmblend``,
thus by ``custom_imports=dict(imports=['mmblend'])``) and again by
:class:`mmblend.evaluation.CompatLVISMetric`; it is idempotent and a no-op
when numpy still has ``np.float`` or lvis is not installed.

Upstream defect: lvis-api 0.5.3 (the latest ``lvis`` on PyPI) uses
``np.float``. Delete when a fixed ``lvis`` release is pinned (together with
``CompatLVISMetric``, which then is plain ``LVISMetric``);
``tests/evaluation/metrics/test_compat_lvis_metric.py::
test_unfixed_lvis_fails_on_numpy2``
fails then and says so.
"""

import importlib
import types
from typing import Any

import numpy

__all__ = ['NumpyAliasProxy', 'patch_lvis_numpy', 'LVIS_MODULES_TO_PATCH']

#: lvis modules whose module-level ``np`` is replaced (only ``lvis.eval``
#: uses a removed alias in lvis 0.5.3).
LVIS_MODULES_TO_PATCH = ('lvis.eval',)


class NumpyAliasProxy(types.ModuleType):
    """numpy, plus the builtin-type aliases removed in numpy 1.24/2.0.

    Attribute reads fall through to the real numpy module, so
    ``proxy.cumsum is numpy.cumsum``; only the missing aliases are added.
    """

    REMOVED_ALIASES = {
        'float': float,
        'int': int,
        'bool': bool,
        'object': object,
        'str': str,
        'complex': complex,
    }

    def __init__(self, np_module: types.ModuleType = numpy) -> None:
        super().__init__(np_module.__name__, np_module.__doc__)
        self.__dict__['_np_module'] = np_module
        for name, value in self.REMOVED_ALIASES.items():
            # vars(): no module __getattr__ (and no FutureWarning)
            if name not in vars(np_module):
                self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        # only called for names not set on the proxy itself
        return getattr(self.__dict__['_np_module'], name)

    def __dir__(self) -> list:
        return sorted(
            set(dir(self.__dict__['_np_module'])) | set(self.REMOVED_ALIASES)
        )

    def __repr__(self) -> str:
        return f'<numpy alias proxy of {self.__dict__["_np_module"]!r}>'


def patch_lvis_numpy() -> bool:
    """Install :class:`NumpyAliasProxy` as ``np`` in the lvis eval module.

    Returns:
        bool: True if lvis is importable and its eval module now sees
        ``np.float`` (patched now or before, or not needed), False if lvis is
        not installed.
    """
    try:
        modules = [importlib.import_module(m) for m in LVIS_MODULES_TO_PATCH]
    except ImportError:
        return False
    if 'float' in vars(numpy):  # numpy < 1.24: nothing to do
        return True
    for mod in modules:
        current = getattr(mod, 'np', None)
        if current is numpy:
            mod.np = NumpyAliasProxy(numpy)
    return True
