"""init_dist_cpu_aware / prepare_cpu_distributed: a CPU process group
(gloo) and the CPUAwareDDP wrapper config, end to end on one rank; mmengine's
path where an accelerator exists."""

import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

import mmblend.engine.dist as mdist
from mmblend.engine import (
    CPUAwareDDP,
    init_dist_cpu_aware,
    prepare_cpu_distributed,
)

cpu_only = pytest.mark.skipif(
    mdist.accelerator_available(), reason='CPU-only code path'
)


class TinyModel(BaseModel):
    def __init__(self, sync_bn=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.SyncBatchNorm(4) if sync_bn else nn.BatchNorm2d(4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        feat = self.conv(inputs)
        out = self.bn(feat)
        if mode == 'loss':
            return dict(loss=feat.mean() + (out**3).mean())
        return out


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def single_rank_env(monkeypatch):
    """env:// variables of a 1-process 'pytorch' launch; destroys the
    process group afterwards."""
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(_free_port()))
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


@cpu_only
def test_prepare_noop_without_launcher():
    cfg = Config(
        dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl')))
    )
    prepare_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert not torch_dist.is_initialized()


@cpu_only
def test_cpu_ddp_end_to_end(single_rank_env):
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)),
            find_unused_parameters=True,
        )
    )
    with pytest.warns(UserWarning, match='gloo'):
        prepare_cpu_distributed(cfg)
    assert torch_dist.is_initialized()
    assert torch_dist.get_backend() == 'gloo'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='CPUAwareDDP',
        broadcast_buffers=False,
        find_unused_parameters=True,
    )

    # What stock mmengine does in Runner.wrap_model fails on CPU ...
    with pytest.raises(ValueError, match='device_ids'):
        MMDistributedDataParallel(
            module=TinyModel(), device_ids=[0], broadcast_buffers=False
        )
    # ... the same call through our wrapper config works, and SyncBN is
    # reverted (torch has no CPU SyncBN).
    with pytest.warns(UserWarning, match='SyncBatchNorm'):
        ddp = MODEL_WRAPPERS.build(
            dict(cfg.model_wrapper_cfg),
            default_args=dict(module=TinyModel(sync_bn=True), device_ids=[0]),
        )
    assert isinstance(ddp, CPUAwareDDP)
    assert ddp.device_ids is None
    assert not any(
        isinstance(m, nn.SyncBatchNorm) for m in ddp.module.modules()
    )
    from mmengine.optim import OptimWrapper

    optim = OptimWrapper(torch.optim.SGD(ddp.parameters(), lr=0.1))
    before = ddp.module.conv.weight.detach().clone()
    log_vars = ddp.train_step(
        dict(inputs=torch.randn(2, 3, 8, 8)), optim_wrapper=optim
    )
    assert 'loss' in log_vars
    assert not torch.equal(before, ddp.module.conv.weight)


@cpu_only
def test_prepare_keeps_custom_wrapper_and_existing_group(single_rank_env):
    init_dist_cpu_aware('pytorch')
    assert torch_dist.get_backend() == 'gloo'
    cfg = Config(
        dict(
            launcher='pytorch',
            model_wrapper_cfg=dict(type='MMFullyShardedDataParallel'),
        )
    )
    prepare_cpu_distributed(cfg)  # must not re-initialise the group
    assert cfg.model_wrapper_cfg.type == 'MMFullyShardedDataParallel'
    cfg = Config(
        dict(
            launcher='pytorch',
            model_wrapper_cfg=dict(detect_anomalous_params=True),
        )
    )
    prepare_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='CPUAwareDDP', detect_anomalous_params=True
    )


def test_cuda_path_defers_to_mmengine(monkeypatch):
    """With an accelerator the init is exactly mmengine's init_dist."""
    calls = []
    monkeypatch.setattr(mdist, 'accelerator_available', lambda: True)
    monkeypatch.setattr(
        mdist, 'init_dist', lambda *a, **k: calls.append((a, k))
    )
    init_dist_cpu_aware('pytorch', timeout=10)
    assert calls == [
        (('pytorch',), dict(backend='nccl', init_backend='torch', timeout=10))
    ]
    # and the config is left alone (mmengine wraps with its own DDP)
    cfg = Config(dict(launcher='pytorch'))
    prepare_cpu_distributed(cfg)
    assert 'model_wrapper_cfg' not in cfg and 'env_cfg' not in cfg
    assert calls[1:] == []


@cpu_only
def test_bad_launcher():
    with pytest.raises(ValueError, match='launcher'):
        init_dist_cpu_aware('bogus')
    with pytest.raises(ValueError, match='init_backend'):
        init_dist_cpu_aware('pytorch', init_backend='deepspeed')
