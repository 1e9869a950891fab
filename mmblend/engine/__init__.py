"""Engine components: CPU-aware distributed training helpers."""
from .dist import (accelerator_available, init_dist_cpu_aware,
                   prepare_cpu_distributed)
from .model_wrapper import CPUAwareDDP

__all__ = [
    'CPUAwareDDP', 'accelerator_available', 'init_dist_cpu_aware',
    'prepare_cpu_distributed'
]
