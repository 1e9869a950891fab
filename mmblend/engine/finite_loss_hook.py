"""A hook that stops training on a non-finite loss.

Why not mmdet's ``CheckInvalidLossHook``: it raises ``AssertionError`` whose
message is ``None`` (it passes the return value of ``logger.info`` as the
message) and does not say which loss term went bad.
"""

import math
from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training with ``FloatingPointError`` when a loss is NaN or inf,
    naming the loss terms, the iteration and the usual causes.

    The check runs after the iteration's optimizer step (a hook cannot run
    between backward and step), but before ``CheckpointHook`` saves, so no
    checkpoint with the broken weights is written. Cost with ``interval=1``:
    one ``isfinite`` over the few logged loss scalars; mmengine's
    ``RuntimeInfoHook`` already calls ``.item()`` on each of them every
    iteration, so no extra device synchronisation is added.
    BlendMask's mask head raises on its own non-finite losses before the
    step; this hook covers the FCOS losses (and any other model).
    """

    # after RuntimeInfoHook (VERY_HIGH), before LoggerHook / CheckpointHook
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: Optional[Sequence] = None,
        outputs: Optional[dict] = None,
    ) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        items = [(k, v) for k, v in outputs.items() if 'loss' in k]
        tensors = [
            v.detach().float().reshape(-1)
            for _, v in items
            if isinstance(v, torch.Tensor)
        ]
        floats = [
            float(v) for _, v in items if not isinstance(v, torch.Tensor)
        ]
        ok = all(math.isfinite(v) for v in floats)
        if ok and tensors:
            ok = bool(torch.isfinite(torch.cat(tensors)).all())
        if ok:
            return
        values = {k: float(v) for k, v in items}
        bad = ', '.join(
            f'{k}={v}' for k, v in values.items() if not math.isfinite(v)
        )
        good = ', '.join(
            f'{k}={v:.4g}' for k, v in values.items() if math.isfinite(v)
        )
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1}: {bad}'
            + (f' (finite: {good})' if good else '')
            + '. Training stopped; the weights of this step are corrupted, '
            'so resume from an earlier checkpoint. Usual causes: learning '
            'rate too high or warm-up too short (param_scheduler), no '
            'gradient clipping (optim_wrapper.clip_grad), fp16 overflow '
            '(--amp), or broken annotations.'
        )
