"""Engine components: CPU-aware distributed training helpers and a hook
for exactly reproducible resuming."""
from .dist import (accelerator_available, init_dist_cpu_aware,
                   prepare_cpu_distributed)
from .hooks import IterTorchSeedHook
from .model_wrapper import CPUAwareDDP

__all__ = [
    'CPUAwareDDP', 'IterTorchSeedHook', 'accelerator_available',
    'init_dist_cpu_aware', 'prepare_cpu_distributed'
]
