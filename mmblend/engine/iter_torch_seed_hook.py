"""A hook for exactly reproducible resuming: torch re-seeded per iteration."""

from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class IterTorchSeedHook(Hook):
    """Re-seed torch's global RNG before every training iteration from
    ``(runner.seed, iteration)``, so that a resumed run reproduces the
    uninterrupted run exactly even when the model draws random numbers in
    its train step (e.g. ``torch.randperm`` sub-sampling of positives, as in
    BlendMask's ``max_proposals`` or CondInst's ``max_masks_to_train``).

    Why it is needed: mmengine 0.10.7 does not checkpoint any RNG state. On
    resume the Runner re-seeds everything from ``randomness.seed`` and
    ``IterBasedTrainLoop`` *replays* the train dataloader ``iter`` times,
    which restores the InfiniteSampler position and the data pipeline's RNG
    draws, but not the draws the model made in the first ``iter`` train
    steps: the torch RNG state at iteration ``iter + 1`` differs from the
    uninterrupted run. With this hook the torch stream of every iteration
    depends only on ``(seed, iteration)`` -- no state has to be saved, and
    nothing has to be communicated between ranks (``runner.seed`` already
    differs per rank when ``randomness.diff_rank_seed=True``).

    Only torch's generators (CPU and all CUDA devices, via
    ``torch.manual_seed``) are re-seeded; numpy/python ``random`` are left to
    mmengine's replay, which reproduces the data pipeline's draws from them.
    Caveat: a data pipeline that draws from torch's *global* RNG in the main
    process (``num_workers=0``) is reproduced for the replayed batches but
    not for the first batch after resuming.

    Usage (in a config)::

        custom_hooks = [dict(type='IterTorchSeedHook')]
    """

    # run after the other hooks' before_train_iter, right before train_step
    priority = 'VERY_LOW'

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed

    @staticmethod
    def iter_seed(seed: int, iteration: int) -> int:
        """A well-mixed 63-bit seed for ``(seed, iteration)``."""
        state = np.random.SeedSequence(
            [int(seed) % 2**32, int(iteration)]
        ).generate_state(2, dtype=np.uint32)
        return (int(state[0]) << 31) ^ int(state[1])

    def before_train_iter(
        self, runner, batch_idx: int, data_batch: Optional[Sequence] = None
    ) -> None:
        seed = self.seed if self.seed is not None else runner.seed
        # runner.iter is the global iteration (also after resuming)
        torch.manual_seed(self.iter_seed(seed, runner.iter))
