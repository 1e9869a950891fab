"""Safe loading of mmengine checkpoints under
``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles
with a restricted unpickler that only builds allowlisted globals. Checkpoints
written by mmengine 0.10.7 (``Runner.save_checkpoint``, used by mmdet) contain
more than tensors:

* ``message_hub.log_scalars`` holds
  :class:`mmengine.logging.HistoryBuffer` objects whose state carries numpy
  arrays (``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``,
  ``numpy.dtype``) and numpy scalars (``numpy._core.multiarray.scalar``);
* every HistoryBuffer pickles its ``statistics_methods`` dict, i.e. the plain
  functions ``HistoryBuffer.min/max/current/mean``. Pickle protocol 2 (the one
  ``torch.save`` uses) cannot name a dotted qualname directly, so each one is
  written as ``REDUCE(GLOBAL '__builtin__ getattr', (HistoryBuffer, 'min'))``.

Stock torch therefore refuses these files, which breaks ``--resume``,
``load_from`` and ``tools/test.py CKPT``. Turning ``weights_only`` off would
let a downloaded checkpoint run arbitrary code, so instead
:func:`register_safe_globals` extends torch's allowlist *narrowly*:

* ``HistoryBuffer``, ``numpy.ndarray``, ``numpy.dtype``, numpy's
  ``_reconstruct`` and ``scalar`` helpers (under both the numpy>=2
  ``numpy._core`` and the numpy 1.x ``numpy.core`` names), ``bytes`` (empty
  arrays pickle ``b''`` as ``bytes()``), and the concrete
  dtype classes of numeric/bool/bytes/str/datetime dtypes (torch checks
  ``type(obj)`` when it applies pickled state to a dtype). Object and
  structured (void) dtypes are deliberately left out.
* ``builtins.getattr`` is NOT allowlisted: with the real ``getattr`` a pickle
  can walk ``fn.__globals__`` -> ``dict.get`` -> ``eval`` and call the result
  through torch's own allowlisted ``torch._tensor._rebuild_from_type_v2``
  (full code execution). Instead :func:`guarded_getattr` is registered *under
  the name* ``builtins.getattr``; it only performs the lookups listed in
  :data:`ALLOWED_GETATTR` (``HistoryBuffer.min/max/current/mean``) and raises
  :class:`pickle.UnpicklingError` for anything else.

Upstream defect: mmengine 0.10.7 pickles Python objects into checkpoints
and registers nothing with ``torch.serialization.add_safe_globals``, while
torch >= 2.6 defaults to ``weights_only=True``.

Applied first by :func:`mmblend.compat.apply_all` (i.e. by ``import
mmblend``, e.g. through ``custom_imports`` in a config); calling
:func:`register_safe_globals` again is harmless. Only on torch >= 2.6
(:func:`weights_only_by_default`): older torch unpickles checkpoints fully by
default, as mmengine expects, and lacks ``(object, name)`` allowlist entries
(torch 2.6) or ``add_safe_globals`` itself (torch < 2.4); there the shim
does nothing.

Delete when the pinned mmengine writes checkpoints that stock torch loads
with ``weights_only=True`` (then ``tests/compat/test_safe_load.py``'s
"stock torch refuses" test fails and says so).
"""

import pickle
import re
import types
import warnings
from typing import Any, Dict, FrozenSet, List, Mapping, Tuple

import numpy as np
import torch

__all__ = [
    'ALLOWED_GETATTR',
    'GETATTR_GLOBAL_NAME',
    'guarded_getattr',
    'safe_globals_list',
    'register_safe_globals',
    'weights_only_by_default',
]

#: The global name under which pickles reference ``getattr``
#: (``__builtin__ getattr`` in protocol 2, mapped to ``builtins`` by torch).
GETATTR_GLOBAL_NAME = 'builtins.getattr'

_STATISTICS_METHODS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_cls() -> type:
    from mmengine.logging.history_buffer import HistoryBuffer

    return HistoryBuffer


def _allowed_getattr() -> Dict[type, FrozenSet[str]]:
    return {_history_buffer_cls(): _STATISTICS_METHODS}


#: ``{owner: attribute names}`` that :func:`guarded_getattr` will look up.
#: The owner is compared by identity (no subclasses, no instances).
ALLOWED_GETATTR: Mapping[type, FrozenSet[str]] = types.MappingProxyType(
    _allowed_getattr()
)


def guarded_getattr(obj: Any, name: Any, *default: Any) -> Any:
    """Stand-in for ``builtins.getattr`` inside ``torch.load``'s unpickler.

    Only ``getattr(owner, name)`` for an ``owner`` and ``name`` listed in
    :data:`ALLOWED_GETATTR` is performed; every other lookup (other objects,
    dunder attributes, non-string names, the 3-argument form) raises
    :class:`pickle.UnpicklingError` without touching ``obj``.
    """
    allowed = None
    for owner, names in ALLOWED_GETATTR.items():
        if obj is owner:
            allowed = names
            break
    if (
        default
        or allowed is None
        or type(name) is not str
        or name not in allowed
    ):
        raise pickle.UnpicklingError(
            'mmblend safe checkpoint loading refused the pickled call '
            f'getattr({_describe(obj)}, {_describe(name)}'
            f'{", <default>" if default else ""}): only '
            + ', '.join(
                f'{owner.__module__}.{owner.__qualname__}.{n}'
                for owner, ns in ALLOWED_GETATTR.items()
                for n in sorted(ns)
            )
            + ' may be looked up. The checkpoint is not a plain '
            'mmengine/mmdet checkpoint; do not load it unless you trust it.'
        )
    # A vetted class-attribute lookup on a plain class (no metaclass
    # __getattr__): returns the function object, runs no other code.
    return getattr(obj, name)


def _describe(obj: Any) -> str:
    if isinstance(obj, str):
        return repr(obj[:60])
    if isinstance(obj, type):
        return f'<class {obj.__module__}.{obj.__qualname__}>'
    return f'<{type(obj).__module__}.{type(obj).__qualname__} object>'


def _numpy_globals() -> List[Any]:
    core = getattr(np, '_core', None)
    if core is None:  # numpy < 2
        core = np.core
    multiarray = core.multiarray
    # ``bytes``: pickle protocol 2 writes the empty payload of an empty
    # array as ``REDUCE(builtins.bytes, ())`` (non-empty ones use the already
    # allowed ``_codecs.encode``). A plain constructor, it runs no user code.
    items: List[Any] = [bytes, np.ndarray, np.dtype]
    # numpy 2 pickles say ``numpy._core.multiarray``, numpy 1.x ones
    # ``numpy.core.multiarray``: accept both spellings of the same function.
    for prefix in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        items.append((multiarray._reconstruct, f'{prefix}._reconstruct'))
        items.append((multiarray.scalar, f'{prefix}.scalar'))
    # Concrete dtype classes (numpy.dtypes.Float64DType, ...): torch's BUILD
    # opcode checks ``type(dtype_instance)``. No object ('O') or structured
    # void ('V') dtypes: those can carry arbitrary Python objects.
    codes = np.typecodes['All'].replace('O', '').replace('V', '')
    seen = set()
    for code in codes:
        cls = type(np.dtype(code))
        if cls not in seen:
            seen.add(cls)
            items.append(cls)
    return items


def safe_globals_list() -> List[Any]:
    """Everything :func:`register_safe_globals` adds to torch's allowlist."""
    items: List[Any] = [_history_buffer_cls()]
    items.extend(_numpy_globals())
    items.append((guarded_getattr, GETATTR_GLOBAL_NAME))
    return items


def _registered_getattr_entries() -> List[Tuple[Any, str]]:
    """Entries of torch's user allowlist that resolve ``builtins.getattr``."""
    out = []
    for entry in torch.serialization.get_safe_globals():
        if isinstance(entry, tuple):
            obj, name = entry
        else:
            obj = entry
            name = (
                f'{getattr(entry, "__module__", "")}.'
                f'{getattr(entry, "__qualname__", "")}'
            )
        if name == GETATTR_GLOBAL_NAME:
            out.append((obj, name))
    return out


def weights_only_by_default() -> bool:
    """Whether this torch's ``torch.load`` defaults to ``weights_only=True``
    (torch >= 2.6), i.e. whether :func:`register_safe_globals` applies."""
    major, minor = re.match(r'(\d+)\.(\d+)', torch.__version__).groups()
    return (int(major), int(minor)) >= (2, 6)


def register_safe_globals() -> bool:
    """Allowlist what mmengine checkpoints need for ``weights_only`` loading.

    Idempotent (torch keeps the allowlist as a set). Never changes
    ``torch.load``'s ``weights_only`` default.

    Returns:
        bool: False (and nothing done) on torch < 2.6, where ``torch.load``
        does not default to ``weights_only=True``; True otherwise.
    """
    if not weights_only_by_default():
        return False
    torch.serialization.add_safe_globals(safe_globals_list())
    others = [
        obj
        for obj, _ in _registered_getattr_entries()
        if obj is not guarded_getattr
    ]
    if others:
        warnings.warn(
            'Something else registered a "builtins.getattr" safe global for '
            f'torch.load ({others!r}); mmblend\'s guarded getattr may be '
            'shadowed by it. Allowlisting the real builtins.getattr lets a '
            'checkpoint execute arbitrary code.',
            RuntimeWarning,
        )
    return True
