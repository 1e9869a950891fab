"""FiniteLossHook: stops training at the first non-finite loss, naming
the losses and the iteration."""

import math
from types import SimpleNamespace

import pytest
import torch

from mmblend.engine import FiniteLossHook


def test_finite_loss_hook():
    hook = FiniteLossHook()
    runner = SimpleNamespace(iter=6)
    ok = dict(
        loss=torch.tensor(1.5),
        loss_cls=torch.tensor(1.0),
        loss_bbox=torch.tensor(0.5),
        acc=torch.tensor(math.nan),
    )
    hook.after_train_iter(runner, 6, outputs=ok)  # 'acc' is not a loss
    bad = dict(
        ok, loss=torch.tensor(math.inf), loss_bbox=torch.tensor(math.nan)
    )
    with pytest.raises(FloatingPointError) as e:
        hook.after_train_iter(runner, 6, outputs=bad)
    msg = str(e.value)
    assert msg.startswith(
        'non-finite loss at iteration 7: loss=inf, '
        'loss_bbox=nan (finite: loss_cls=1)'
    )
    assert 'clip_grad' in msg
    # interval: only every n-th iteration is checked
    FiniteLossHook(interval=5).after_train_iter(runner, 6, outputs=bad)
    # it runs before CheckpointHook (no checkpoint of NaN weights)
    from mmengine.hooks import CheckpointHook
    from mmengine.runner.priority import get_priority

    assert get_priority(hook.priority) < get_priority(CheckpointHook.priority)
