"""The numpy-2 shim of lvis-api: numpy's names plus the removed scalar
aliases, inside ``lvis.eval`` only (LVIS evaluation with it, and without it
failing: tests/evaluation/metrics/test_compat_lvis_metric.py)."""

import types

import numpy as np
import pytest

from mmblend.compat.lvis_numpy import NumpyAliasProxy, patch_lvis_numpy


def test_proxy_forwards_numpy_and_adds_only_missing_aliases():
    fake = types.ModuleType('fakenp')
    fake.cumsum, fake.int = np.cumsum, 'kept'
    proxy = NumpyAliasProxy(fake)
    assert proxy.__name__ == 'fakenp'
    assert proxy.cumsum is np.cumsum
    assert proxy.int == 'kept'  # an alias the module has is not replaced
    assert proxy.float is float and proxy.object is object
    with pytest.raises(AttributeError):
        _ = proxy.not_in_numpy
    assert {'cumsum', 'float', 'complex'} <= set(dir(proxy))
    assert not hasattr(fake, 'float')  # the module itself is untouched


def test_shim_is_local_to_lvis():
    lvis_eval = pytest.importorskip('lvis.eval')
    assert patch_lvis_numpy()
    assert isinstance(lvis_eval.np, NumpyAliasProxy)
    assert lvis_eval.np.float is float
    assert lvis_eval.np.cumsum is np.cumsum
    # numpy itself is not monkeypatched
    assert not hasattr(np, 'float')
    patch_lvis_numpy()  # idempotent
    assert lvis_eval.np.float is float
