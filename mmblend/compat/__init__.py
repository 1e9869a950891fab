"""Environment shims: every change ``import mmblend`` makes to other
packages' code.

Besides them, ``import mmblend`` only adds: its modules to mmdet's and
mmengine's registries, each under a name of its own (it replaces no entry;
mmdet's ``LoadImageFromFile`` stays mmcv's), and the ``efficientnet-lite://``
prefix to mmengine's ``CheckpointLoader``. docs/side_effects.md lists every
registry entry and every other process-wide change;
``tests/compat/test_import_side_effects.py`` fails on anything else.

Each shim works around one defect of a pinned upstream package, says when it
can be deleted, is idempotent, and is applied exactly once, by
:func:`apply_all`, which ``mmblend/__init__.py`` calls before it imports any
other mmblend subpackage. The order, :data:`SHIMS`, is:

1. ``safe_load`` (:mod:`mmblend.compat.safe_load`): allowlist what
   mmengine's checkpoints pickle, so they load under torch's default
   ``torch.load(weights_only=True)`` (torch >= 2.6; a no-op on older
   torch, which does not default to it). First, so that it is active even
   if a later shim's imports fail, and before anything can load a
   checkpoint; it needs only torch, numpy and ``mmengine.logging``.
2. ``panopticapi`` (:mod:`mmblend.compat.panopticapi`): make our
   re-implementation importable as ``panopticapi`` when the official
   package is absent, and fill it into mmdet modules that were imported
   earlier. Before the rest of mmblend, whose imports pull in mmdet's
   panoptic modules (each runs ``try: import panopticapi`` once, at import).
3. ``lvis_numpy`` (:mod:`mmblend.compat.lvis_numpy`): give ``lvis.eval``
   (and only it) the numpy aliases removed in numpy 1.24.

:data:`applied` lists the shims in the order they ran
(``tests/compat/test_order.py`` checks it and that the rest of mmblend is
imported only afterwards).
"""

from typing import Callable, List, Tuple

from .lvis_numpy import patch_lvis_numpy
from .panopticapi import install_panopticapi_alias
from .safe_load import register_safe_globals

__all__ = [
    'SHIMS',
    'applied',
    'apply_all',
    'install_panopticapi_alias',
    'patch_lvis_numpy',
    'register_safe_globals',
]

#: ``(name, function)`` of every shim, in the order they are applied.
SHIMS: Tuple[Tuple[str, Callable[[], object]], ...] = (
    ('safe_load', register_safe_globals),
    ('panopticapi', install_panopticapi_alias),
    ('lvis_numpy', patch_lvis_numpy),
)

#: Names of the shims applied so far, in order.
applied: List[str] = []


def apply_all() -> None:
    """Apply every shim of :data:`SHIMS` in order, once per process (later
    calls do nothing)."""
    for name, shim in SHIMS:
        if name not in applied:
            shim()
            applied.append(name)
