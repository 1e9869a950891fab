"""Engine components: CPU-aware distributed training helpers and hooks
(one per ``<name>_hook.py``)."""

from .checkpoint_fit import CheckpointMismatchError, check_checkpoint_fits
from .checkpoint_hook import CrashSafeCheckpointHook
from .dataset_check_hook import DatasetCheckHook
from .dist import (
    accelerator_available,
    init_dist_cpu_aware,
    prepare_cpu_distributed,
)
from .finite_loss_hook import FiniteLossHook
from .iter_torch_seed_hook import IterTorchSeedHook
from .model_wrapper import CPUAwareDDP
from .progress_bar_hook import ProgressBarHook

__all__ = [
    'CPUAwareDDP',
    'CheckpointMismatchError',
    'CrashSafeCheckpointHook',
    'DatasetCheckHook',
    'FiniteLossHook',
    'IterTorchSeedHook',
    'ProgressBarHook',
    'accelerator_available',
    'check_checkpoint_fits',
    'init_dist_cpu_aware',
    'prepare_cpu_distributed',
]
