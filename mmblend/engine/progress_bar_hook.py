"""A training progress bar with ETA (tqdm) for iteration-based loops."""

from typing import Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show ``[iter/max_iters, elapsed<ETA, it/s, loss]`` while training.

    Only the main process draws the bar. Add it to a config with
    ``custom_hooks = [dict(type='ProgressBarHook')]``.

    Args:
        interval (int): refresh the loss shown every ``interval`` iterations.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: int = 10) -> None:
        self.interval = interval
        self._bar = None

    def before_train(self, runner) -> None:
        from mmengine.dist import is_main_process

        if not is_main_process():
            return
        from tqdm import tqdm

        self._bar = tqdm(
            total=runner.max_iters,
            initial=runner.iter,
            desc='train',
            unit='it',
            dynamic_ncols=True,
        )

    def after_train_iter(
        self,
        runner,
        batch_idx: int,
        data_batch: Optional[Sequence] = None,
        outputs: Optional[dict] = None,
    ) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if outputs and self.every_n_train_iters(runner, self.interval):
            loss = outputs.get('loss')
            if isinstance(loss, torch.Tensor):
                loss = loss.detach()
            if loss is not None:
                self._bar.set_postfix(loss=f'{float(loss):.3f}')

    def after_train(self, runner) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
