"""CPUAwareDDP: registered for configs, and only a CPU module's arguments
are changed (on CPU, with SyncBN reverted: tests/engine/test_dist.py)."""

import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from mmblend.engine import CPUAwareDDP


def test_registered_in_model_wrappers():
    assert MODEL_WRAPPERS.get('CPUAwareDDP') is CPUAwareDDP
    # visible from the mmdet scope, where mmdet configs build it
    from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS

    assert MMDET_MODEL_WRAPPERS.get('CPUAwareDDP') is CPUAwareDDP
    assert issubclass(CPUAwareDDP, MMDistributedDataParallel)


def test_cpu_ddp_on_cuda_module_is_plain_mmddp(monkeypatch):
    """For a non-CPU module the arguments go through unchanged."""
    seen = {}

    def fake_init(self, module, detect_anomalous_params=False, **kwargs):
        seen.update(kwargs)

    monkeypatch.setattr(MMDistributedDataParallel, '__init__', fake_init)
    monkeypatch.setattr(
        'mmblend.engine.model_wrapper._module_device_type', lambda m: 'cuda'
    )
    CPUAwareDDP(nn.Linear(2, 2), device_ids=[3], broadcast_buffers=False)
    assert seen == dict(device_ids=[3], broadcast_buffers=False)
