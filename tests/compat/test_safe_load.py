"""Safe checkpoint loading (mmblend.compat.safe_load).

* A real mmengine ``Runner`` checkpoint resumes / loads / tests under torch's
  default ``torch.load`` (``weights_only=True``) once mmblend is imported.
* Stock torch (no mmblend) refuses the same file, so these tests fail if the
  mechanism is removed.
* Booby-trapped checkpoints are refused and their side effect never happens,
  including a ``builtins.getattr`` chain that does execute code when the real
  ``getattr`` is allowlisted.

The allowlist exists only on torch >= 2.6, where ``torch.load`` defaults to
``weights_only=True``: on older torch the tests of the allowlist skip
(``needs_weights_only_default``) and ``test_no_allowlist_on_old_torch``
checks that mmblend registers nothing; loading, resuming and testing from a
real checkpoint are tested on every torch.
"""

import json
import os
import pickle
import subprocess
import sys
import uuid
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmblend  # noqa: F401  (activates the safe loading path)
from mmblend.compat.safe_load import (
    ALLOWED_GETATTR,
    GETATTR_GLOBAL_NAME,
    guarded_getattr,
    register_safe_globals,
    safe_globals_list,
    weights_only_by_default,
)

needs_weights_only_default = pytest.mark.skipif(
    not weights_only_by_default(),
    reason=f'torch {torch.__version__} < 2.6 does not default to '
    'torch.load(weights_only=True): mmblend registers no allowlist',
)

_ENV_OVERRIDES = (
    'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD',
    'TORCH_FORCE_WEIGHTS_ONLY_LOAD',
)


@pytest.fixture(autouse=True)
def _default_torch_load(monkeypatch):
    # The point is torch.load's *default* behaviour: no env override.
    for var in _ENV_OVERRIDES:
        monkeypatch.delenv(var, raising=False)


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in _ENV_OVERRIDES}
    env['PYTHONWARNINGS'] = 'ignore'
    return env


# --------------------------------------------------------------------------
# A tiny self-contained mmengine setup: 1-layer model, in-memory dataset.
# --------------------------------------------------------------------------
@MODELS.register_module(name='MMBlendSafeLoadToyModel', force=True)
class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.fc(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - labels) ** 2).mean())
        if mode == 'predict':
            return list(out)
        return out


@DATASETS.register_module(name='MMBlendSafeLoadToyDataset', force=True)
class ToyDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(
            inputs=torch.tensor([i / 8.0, 1.0]),
            labels=torch.tensor(0.5 * i / 8.0 - 0.25),
        )


@METRICS.register_module(name='MMBlendSafeLoadToyMetric', force=True)
class ToyMetric(BaseMetric):
    def process(self, data_batch, data_samples):
        for pred, label in zip(data_samples, data_batch['labels']):
            self.results.append(float((pred - label) ** 2))

    def compute_metrics(self, results):
        return dict(mse=sum(results) / len(results))


@HOOKS.register_module(name='MMBlendSafeLoadProbeHook', force=True)
class ProbeHook(Hook):
    """Records what the runner looks like right after load/resume."""

    def __init__(self):
        self.seen = {}

    def before_train(self, runner):
        self._record(runner)

    def before_test(self, runner):
        self._record(runner)

    def _record(self, runner):
        hub = runner.message_hub
        loss = hub.log_scalars.get('train/loss')
        self.seen = dict(
            iter=runner.iter,
            loss_history=None if loss is None else loss.data[0].tolist(),
            last_ckpt=hub.get_info('last_ckpt'),
            state={
                k: v.detach().clone()
                for k, v in runner.model.state_dict().items()
            },
        )


def _dataloader():
    return dict(
        dataset=dict(type='MMBlendSafeLoadToyDataset'),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=2,
        num_workers=0,
        collate_fn=dict(type='default_collate'),
    )


def _runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=dict(type='MMBlendSafeLoadToyModel'),
        work_dir=str(work_dir),
        experiment_name=f'safe_load_{uuid.uuid4().hex}',
        train_dataloader=_dataloader(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        # like mmdet schedules: warm-up + step decay (their state is saved)
        param_scheduler=[
            dict(
                type='LinearLR',
                start_factor=0.1,
                by_epoch=False,
                begin=0,
                end=2,
            ),
            dict(type='MultiStepLR', milestones=[4], by_epoch=False),
        ],
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=100),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1),
        ),
        randomness=dict(seed=0),
        log_level='WARNING',
        **kwargs,
    )


@pytest.fixture(scope='module')
def mmengine_ckpt(tmp_path_factory):
    """A checkpoint written by a real mmengine Runner (3 iterations)."""
    for var in _ENV_OVERRIDES:
        assert var not in os.environ, f'{var} would change torch.load'
    work_dir = tmp_path_factory.mktemp('train')
    runner = _runner(work_dir, max_iters=3)
    runner.train()
    ckpt = work_dir / 'iter_3.pth'
    assert ckpt.is_file()
    loss_history = runner.message_hub.log_scalars['train/loss'].data[0]
    assert len(loss_history) == 3
    return ckpt, loss_history.tolist()


# --------------------------------------------------------------------------
# (1) resume / load_from / test with torch's default torch.load
# --------------------------------------------------------------------------
@needs_weights_only_default
def test_torch_load_not_weakened():
    assert torch.load is torch.serialization.load
    import inspect

    default = inspect.signature(torch.load).parameters['weights_only'].default
    assert default is None  # None == "weights_only=True" since torch 2.6
    assert GETATTR_GLOBAL_NAME == 'builtins.getattr'
    registered = torch.serialization.get_safe_globals()
    assert getattr not in registered
    assert (guarded_getattr, GETATTR_GLOBAL_NAME) in registered


@pytest.mark.skipif(
    weights_only_by_default(),
    reason=f'torch {torch.__version__} >= 2.6: the allowlist applies',
)
def test_no_allowlist_on_old_torch():
    import inspect

    default = inspect.signature(torch.load).parameters['weights_only'].default
    assert default in (False, None)  # None: torch 2.4/2.5, means False
    assert register_safe_globals() is False
    if hasattr(torch.serialization, 'get_safe_globals'):  # torch 2.5
        assert not any(
            (e[0] if isinstance(e, tuple) else e) is guarded_getattr
            for e in torch.serialization.get_safe_globals()
        )


def test_default_torch_load_reads_mmengine_checkpoint(mmengine_ckpt):
    ckpt, loss_history = mmengine_ckpt
    state = torch.load(ckpt, map_location='cpu')  # default weights_only
    hub = state['message_hub']
    buf = hub['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    np.testing.assert_allclose(buf.data[0], loss_history)
    assert buf.data[1].dtype == np.int64
    assert buf.statistics('current') == pytest.approx(loss_history[-1])
    assert hub['runtime_info']['last_ckpt'].endswith('iter_3.pth')
    assert state['meta']['iter'] == 3
    assert set(state['state_dict']) == {'fc.weight', 'fc.bias'}
    assert 'momentum_buffer' in str(state['optimizer'])
    assert [
        type(s['milestones']).__name__
        for s in state['param_schedulers']
        if 'milestones' in s
    ] == ['Counter']
    # The statistics methods came back as the genuine functions.
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.mean


def test_runner_resume(mmengine_ckpt, tmp_path):
    ckpt, loss_history = mmengine_ckpt
    expected = torch.load(ckpt, map_location='cpu')['state_dict']
    runner = _runner(
        tmp_path,
        max_iters=5,
        resume=True,
        load_from=str(ckpt),
        custom_hooks=[dict(type='MMBlendSafeLoadProbeHook')],
    )
    probe = [h for h in runner.hooks if isinstance(h, ProbeHook)][0]
    runner.train()
    seen = probe.seen
    assert seen['iter'] == 3, 'iteration count not restored'
    assert seen['last_ckpt'] == str(ckpt), 'runtime info not restored'
    assert seen['loss_history'] == pytest.approx(loss_history), (
        'message hub not restored'
    )
    for k, v in expected.items():
        torch.testing.assert_close(seen['state'][k], v)
    # ...and training went on from there.
    assert runner.iter == 5
    assert runner.param_schedulers[1]._global_step == 5  # 3 restored + 2
    assert len(runner.message_hub.log_scalars['train/loss'].data[0]) == 5
    state = torch.load(_last_checkpoint(tmp_path), map_location='cpu')
    assert state['meta']['iter'] == 5


def _last_checkpoint(work_dir):
    with open(work_dir / 'last_checkpoint') as f:
        return f.read().strip()


def test_runner_load_from_and_test(mmengine_ckpt, tmp_path):
    ckpt, _ = mmengine_ckpt
    weights = torch.load(ckpt, map_location='cpu')['state_dict']
    ds = ToyDataset()
    x = torch.stack([ds[i]['inputs'] for i in range(len(ds))])
    y = torch.stack([ds[i]['labels'] for i in range(len(ds))])
    pred = x @ weights['fc.weight'].T.squeeze(-1) + weights['fc.bias']
    expected_mse = float(((pred - y) ** 2).mean())

    runner = Runner(
        model=dict(type='MMBlendSafeLoadToyModel'),
        work_dir=str(tmp_path),
        experiment_name=f'safe_load_{uuid.uuid4().hex}',
        test_dataloader=_dataloader(),
        test_evaluator=dict(type='MMBlendSafeLoadToyMetric'),
        test_cfg=dict(type='TestLoop'),
        load_from=str(ckpt),
        custom_hooks=[dict(type='MMBlendSafeLoadProbeHook')],
        log_level='WARNING',
    )
    metrics = runner.test()
    assert metrics['mse'] == pytest.approx(expected_mse, rel=1e-5)
    probe = [h for h in runner.hooks if isinstance(h, ProbeHook)][0]
    for k, v in weights.items():
        torch.testing.assert_close(probe.seen['state'][k], v)


# --------------------------------------------------------------------------
# (3) the mechanism is what makes it work: stock torch refuses the file
# --------------------------------------------------------------------------
_STOCK_LOAD = r'''
import json, pickle, sys, torch
assert "mmblend" not in sys.modules
unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(sys.argv[1])
out = {"unsafe": unsafe}
try:
    torch.load(sys.argv[1], map_location="cpu")
    out["error"] = None
except pickle.UnpicklingError as e:
    out["error"] = str(e)
print(json.dumps(out))
'''


@needs_weights_only_default
def test_stock_torch_refuses_mmengine_checkpoint(mmengine_ckpt):
    ckpt, _ = mmengine_ckpt
    proc = subprocess.run(
        [sys.executable, '-c', _STOCK_LOAD, str(ckpt)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['error'] is not None, (
        'stock torch.load accepted the checkpoint: test premise is gone'
    )
    assert 'Weights only load failed' in out['error']
    # What mmblend has to allow; builtins.getattr comes from HistoryBuffer.
    assert {
        'builtins.getattr',
        'mmengine.logging.history_buffer.HistoryBuffer',
        'numpy.ndarray',
        'numpy.dtype',
    } <= set(out['unsafe'])


# --------------------------------------------------------------------------
# (2) booby-trapped checkpoints are refused
# --------------------------------------------------------------------------
class _Call:
    """Pickles as ``func(*args)`` (func/args may be other _Call objects)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # pickle insists that `func` is callable
        raise AssertionError('never called')


def _gadget_chain(marker):
    """``builtins.getattr`` + torch's own allowlisted helper -> eval().

    ``torch._tensor._rebuild_from_type_v2(func, new_type, args, state)``
    (allowlisted by torch) calls ``func(*args)``. With the *real* getattr a
    pickle gets ``_rebuild_tensor_v2.__globals__`` -> ``dict.get`` ->
    ``__builtins__`` -> ``eval`` and runs code.
    """
    g, rebuild = getattr, torch._tensor._rebuild_from_type_v2
    mod_globals = _Call(g, torch._utils._rebuild_tensor_v2, '__globals__')
    dict_t = _Call(g, mod_globals, '__class__')
    builtins_d = _Call(
        rebuild, _Call(g, mod_globals, 'get'), dict_t, ('__builtins__',), None
    )
    bget = _Call(g, builtins_d, 'get')
    evil = _Call(rebuild, bget, _Call(g, bget, '__class__'), ('eval',), None)
    code = f'(open({str(marker)!r}, "w").close(), {{}})[1]'
    return _Call(rebuild, evil, dict_t, (code,), None)


def _payloads(marker):
    hb_min = _Call(getattr, HistoryBuffer, 'min')
    return {
        'os.system': _Call(os.system, f'touch {marker}'),
        'builtins.eval': _Call(eval, f'open({str(marker)!r}, "w").close()'),
        'getattr-eval-chain': _gadget_chain(marker),
        'getattr(__import__("os"), "system")': _Call(
            _Call(getattr, _Call(__import__, 'os'), 'system'),
            f'touch {marker}',
        ),
        'getattr(HistoryBuffer.min, "__globals__")': _Call(
            getattr, hb_min, '__globals__'
        ),
        'getattr(HistoryBuffer, "__init__")': _Call(
            getattr, HistoryBuffer, '__init__'
        ),
        'getattr(HistoryBuffer, "register_statistics")': _Call(
            getattr, HistoryBuffer, 'register_statistics'
        ),
        'getattr(torch.Tensor, "__subclasses__")': _Call(
            getattr, torch.Tensor, '__subclasses__'
        ),
        # a poisoned HistoryBuffer: its state would rewrite the class-wide
        # HistoryBuffer._statistics_methods table
        'HistoryBuffer(statistics_methods=<module globals>)':  # noqa: E501
        _history_buffer_with(
            {
                'mean': _Call(
                    getattr,
                    _Call(getattr, HistoryBuffer, '__init__'),
                    '__globals__',
                )
            }
        ),
    }


def _history_buffer_with(statistics_methods):
    """A HistoryBuffer pickled exactly like mmengine does, with a custom
    ``statistics_methods`` entry in its state."""
    buf = HistoryBuffer()
    buf.update(1.0)
    state = dict(
        max_length=buf.max_length,
        _log_history=buf._log_history,
        _count_history=buf._count_history,
        statistics_methods=statistics_methods,
    )
    buf.__getstate__ = lambda: state
    return buf


def _save(obj, path):
    torch.save({'state_dict': {}, 'meta': obj}, path)
    return path


@needs_weights_only_default
@pytest.mark.parametrize('name', list(_payloads('M')))
def test_booby_trapped_checkpoint_refused(name, tmp_path):
    marker = tmp_path / 'pwned'
    ckpt = _save(_payloads(marker)[name], tmp_path / 'evil.pth')
    methods_before = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, map_location='cpu')
    assert not marker.exists(), 'the booby trap went off'
    assert HistoryBuffer._statistics_methods == methods_before


@needs_weights_only_default
def test_object_dtype_arrays_refused(tmp_path):
    ckpt = _save(np.array([{'a': 1}, None], dtype=object), tmp_path / 'o.pth')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, map_location='cpu')


_ARMED = r'''
import json, pickle, sys, zipfile, torch
assert "mmblend" not in sys.modules
res = {}
# os.system / eval payloads: plain unpickling of the checkpoint's data.pkl
for name in ("os.system", "builtins.eval"):
    path, marker = sys.argv[1 + 2 * len(res)], sys.argv[2 + 2 * len(res)]
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
        pickle.loads(z.read(pkl))
    res[name] = __import__("os").path.exists(marker)
# the getattr chain: torch.load(weights_only=True) with the REAL getattr
# allowlisted, i.e. what mmblend must not do.
torch.serialization.add_safe_globals([getattr])
path, marker = sys.argv[5], sys.argv[6]
torch.load(path, map_location="cpu")
res["getattr-eval-chain"] = __import__("os").path.exists(marker)
print(json.dumps(res))
'''


@needs_weights_only_default
def test_booby_traps_are_armed(tmp_path):
    """Control: the payloads above really run code when not refused.

    Runs in a throw-away subprocess that does not import mmblend; each
    payload only creates a marker file in tmp_path.
    """
    args = []
    for name in ('os.system', 'builtins.eval', 'getattr-eval-chain'):
        marker = tmp_path / f'{name}.marker'
        ckpt = _save(_payloads(marker)[name], tmp_path / f'{name}.pth')
        args += [str(ckpt), str(marker)]
    proc = subprocess.run(
        [sys.executable, '-c', _ARMED, *args],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res == {
        'os.system': True,
        'builtins.eval': True,
        'getattr-eval-chain': True,
    }


# --------------------------------------------------------------------------
# the guard itself
# --------------------------------------------------------------------------
def test_guarded_getattr_allows_only_history_buffer_statistics():
    assert ALLOWED_GETATTR == {
        HistoryBuffer: frozenset({'min', 'max', 'current', 'mean'})
    }
    for name in ('min', 'max', 'current', 'mean'):
        assert guarded_getattr(HistoryBuffer, name) is getattr(
            HistoryBuffer, name
        )
    refused = [
        (HistoryBuffer, '__init__'),
        (HistoryBuffer, '__dict__'),
        (HistoryBuffer, 'register_statistics'),
        (HistoryBuffer, '_statistics_methods'),
        (HistoryBuffer(), 'min'),  # instances are not the class
        (type('HistoryBuffer', (), {'min': 1}), 'min'),
        (HistoryBuffer.min, '__globals__'),
        (torch.Tensor, '__subclasses__'),
        (os, 'system'),
        (HistoryBuffer, b'min'),
    ]
    for obj, name in refused:
        with pytest.raises(pickle.UnpicklingError, match='refused'):
            guarded_getattr(obj, name)
    with pytest.raises(pickle.UnpicklingError):
        guarded_getattr(HistoryBuffer, 'min', None)  # 3-argument form


@needs_weights_only_default
def test_register_safe_globals_is_idempotent_and_narrow():
    before = torch.serialization.get_safe_globals()
    register_safe_globals()
    register_safe_globals()
    after = torch.serialization.get_safe_globals()
    assert len(after) == len(before)
    names = set()
    for entry in safe_globals_list():
        assert entry in after
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    assert 'numpy._core.multiarray._reconstruct' in names
    assert 'numpy.core.multiarray._reconstruct' in names  # numpy 1.x files
    assert type(np.dtype(object)) not in after
    assert type(np.dtype([('a', 'f4')])) not in after
    assert getattr not in after and eval not in after


def test_numpy_payloads_round_trip(tmp_path):
    empty = HistoryBuffer()  # empty arrays pickle b'' as REDUCE(bytes, ())
    data = {
        'empty': np.array([]),
        'empty_buffer_log': empty._log_history,
        'f8': np.arange(3, dtype=np.float64),
        'i4': np.array([[1, 2]], dtype=np.int32),
        'bool': np.array([True, False]),
        'scalar': np.float32(1.5),
        'int64': np.int64(7),
        'str': np.array(['ab', 'c']),
    }
    path = tmp_path / 'np.pth'
    torch.save(data, path)
    out = torch.load(path)
    for k, v in data.items():
        np.testing.assert_array_equal(out[k], v)
        assert out[k].dtype == v.dtype


def test_checkpoint_zip_names_getattr_via_builtin(mmengine_ckpt):
    """Documents the exact reference the guard stands in for."""
    import pickletools

    ckpt, _ = mmengine_ckpt
    with zipfile.ZipFile(ckpt) as z:
        pkl = [n for n in z.namelist() if n.endswith('data.pkl')][0]
        data = z.read(pkl)
    globals_seen = {
        arg for op, arg, _ in pickletools.genops(data) if op.name == 'GLOBAL'
    }
    assert '__builtin__ getattr' in globals_seen
    assert 'mmengine.logging.history_buffer HistoryBuffer' in globals_seen
