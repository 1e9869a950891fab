"""A small, numpy-2 compatible re-implementation of the parts of the official
``panopticapi`` (github.com/cocodataset/panopticapi, not on PyPI) that
MMDetection 3.x imports:

* ``panopticapi.evaluation``: ``OFFSET``, ``VOID``, ``PQStat`` (+
  ``PQStatCat``, ``pq_compute_single_core``, ``pq_compute_multi_core``,
  ``pq_compute``);
* ``panopticapi.utils``: ``rgb2id``, ``id2rgb`` (+ ``IdGenerator``,
  ``get_traceback``, ``save_json``).

Upstream defect: mmdet 3.3's ``CocoPanopticMetric``, panoptic utilities
and ``DetInferencer`` need ``panopticapi``, which is not on PyPI (only
installable from its git repository, which an offline or pinned install
cannot reach).

:func:`install_panopticapi_alias` (applied by
:func:`mmblend.compat.apply_all`, i.e. by ``import mmblend``) makes this
package importable as ``panopticapi`` **only if no real panopticapi is
installed**, and fills the names into mmdet modules that were imported before
(their ``try: import panopticapi ... except ImportError: ... = None`` already
ran: :func:`patch_mmdet_modules`). Set the environment variable
``MMBLEND_NO_PANOPTICAPI_ALIAS=1`` to turn the alias off.

Delete when panopticapi can be pinned from PyPI (or
mmdet stops importing it): then install it in ``requirements/`` and keep
``tests/evaluation/test_coco_panoptic_metric.py``, which also runs with the
real package.
"""

import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import Dict

from . import evaluation, utils
from .evaluation import OFFSET, VOID, PQStat, PQStatCat
from .utils import id2rgb, rgb2id

__all__ = [
    'evaluation',
    'utils',
    'OFFSET',
    'VOID',
    'PQStat',
    'PQStatCat',
    'id2rgb',
    'rgb2id',
    'install_panopticapi_alias',
    'patch_mmdet_modules',
    'real_panopticapi_available',
]

ALIAS_NAME = 'panopticapi'
_THIS = sys.modules[__name__]


def real_panopticapi_available() -> bool:
    """Whether a panopticapi other than this package can be imported."""
    existing = sys.modules.get(ALIAS_NAME)
    if existing is not None:
        return existing is not _THIS
    try:
        spec = importlib.util.find_spec(ALIAS_NAME)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    try:
        importlib.import_module(f'{ALIAS_NAME}.evaluation')
        importlib.import_module(f'{ALIAS_NAME}.utils')
    except Exception:  # broken install: fall back to ours
        for name in list(sys.modules):
            if name == ALIAS_NAME or name.startswith(ALIAS_NAME + '.'):
                del sys.modules[name]
        return False
    return True


def patch_mmdet_modules(api: ModuleType) -> Dict[str, list]:
    """Fill panopticapi names into already-imported mmdet modules whose
    optional ``import panopticapi`` failed (attributes that are ``None``).

    Args:
        api (module): the package providing ``evaluation`` and ``utils``.

    Returns:
        dict: ``{module name: [patched attribute names]}``.
    """
    ev, ut = api.evaluation, api.utils
    wanted = {
        'mmdet.evaluation.functional.panoptic_utils': dict(
            PQStat=ev.PQStat, rgb2id=ut.rgb2id
        ),
        'mmdet.evaluation.metrics.coco_panoptic_metric': dict(
            panopticapi=api,
            VOID=ev.VOID,
            PQStat=ev.PQStat,
            id2rgb=ut.id2rgb,
            rgb2id=ut.rgb2id,
        ),
        'mmdet.apis.det_inferencer': dict(VOID=ev.VOID, id2rgb=ut.id2rgb),
    }
    patched: Dict[str, list] = {}
    for mod_name, attrs in wanted.items():
        mod = sys.modules.get(mod_name)
        if mod is None:
            continue
        for attr, value in attrs.items():
            if hasattr(mod, attr) and getattr(mod, attr) is None:
                setattr(mod, attr, value)
                patched.setdefault(mod_name, []).append(attr)
    return patched


def install_panopticapi_alias() -> bool:
    """Make this package importable as ``panopticapi`` if the real one is
    absent, and patch already-imported mmdet modules.

    Idempotent. Returns True when our implementation is (now) the one that
    ``import panopticapi`` gives, False when a real panopticapi is used or the
    alias is disabled by ``MMBLEND_NO_PANOPTICAPI_ALIAS=1``.
    """
    if os.environ.get('MMBLEND_NO_PANOPTICAPI_ALIAS', '0') not in ('', '0'):
        return False
    if real_panopticapi_available():
        # still make already-imported mmdet modules see the real one
        patch_mmdet_modules(sys.modules[ALIAS_NAME])
        return False
    sys.modules[ALIAS_NAME] = _THIS
    sys.modules[f'{ALIAS_NAME}.evaluation'] = evaluation
    sys.modules[f'{ALIAS_NAME}.utils'] = utils
    patch_mmdet_modules(_THIS)
    return True
