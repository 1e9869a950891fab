"""Unit tests for IterTorchSeedHook (end-to-end resume check:
tests/tools/test_resume_determinism.py)."""

from types import SimpleNamespace

import torch
from mmengine.registry import HOOKS

from mmblend.engine import IterTorchSeedHook


def _draw(hook, seed, it):
    hook.before_train_iter(SimpleNamespace(seed=seed, iter=it), batch_idx=0)
    return torch.randperm(1000)


def test_registered_and_visible_from_mmdet():
    from mmdet.registry import HOOKS as MMDET_HOOKS

    assert HOOKS.get('IterTorchSeedHook') is IterTorchSeedHook
    assert MMDET_HOOKS.get('IterTorchSeedHook') is IterTorchSeedHook
    hook = HOOKS.build(dict(type='IterTorchSeedHook'))
    assert hook.priority == 'VERY_LOW'


def test_stream_depends_only_on_seed_and_iter():
    hook = IterTorchSeedHook()
    a = _draw(hook, 0, 5)
    torch.rand(123)  # history must not matter
    assert torch.equal(_draw(hook, 0, 5), a)
    assert not torch.equal(_draw(hook, 0, 6), a)
    assert not torch.equal(_draw(hook, 1, 5), a)
    # an explicit seed overrides runner.seed
    fixed = IterTorchSeedHook(seed=7)
    assert torch.equal(_draw(fixed, 0, 3), _draw(fixed, 99, 3))
    # distinct, well-mixed 63-bit seeds
    seeds = {
        IterTorchSeedHook.iter_seed(s, i) for s in range(4) for i in range(50)
    }
    assert len(seeds) == 200
    assert all(0 <= x < 2**63 for x in seeds)
