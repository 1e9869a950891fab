"""Engine components: CPU-aware distributed training helpers and a hook
for exactly reproducible resuming."""
from .check_hooks import DatasetCheckHook, FiniteLossHook  # noqa: F401
from .dist import (accelerator_available, init_dist_cpu_aware,
                   prepare_cpu_distributed)
from .hooks import IterTorchSeedHook
from .model_wrapper import CPUAwareDDP
from .progress_bar_hook import ProgressBarHook

__all__ = [
    'CPUAwareDDP', 'IterTorchSeedHook', 'ProgressBarHook',
    'accelerator_available', 'init_dist_cpu_aware', 'prepare_cpu_distributed'
]
