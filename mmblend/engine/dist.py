"""CPU-aware distributed initialisation for mmengine's Runner.

Stock mmengine 0.10.7 cannot run multi-process training on a CPU-only
machine; it fails in three places:

1. ``mmengine.dist.init_dist`` -> ``_init_dist_pytorch`` (and the slurm/mpi
   variants) call ``torch.cuda.set_device(local_rank)`` unconditionally and
   default to the ``nccl`` backend.
2. ``Runner.wrap_model`` builds ``MMDistributedDataParallel`` with
   ``device_ids=[LOCAL_RANK]``, which torch rejects for a CPU module.
3. SyncBN (``sync_bn='torch'`` or ``norm_cfg=dict(type='SyncBN')``) only
   works on GPU tensors.

We fix them through supported extension points only (nothing in mmengine
is patched):

1. :func:`init_dist_cpu_aware` initialises the default process group with
   ``gloo`` (no ``set_device``) when no CUDA device is available. The tools
   call it *before* building the Runner; ``Runner.setup_env`` only calls
   ``init_dist`` when ``not is_distributed()``, so it then simply uses the
   existing process group.
2. :class:`~mmblend.engine.CPUAwareDDP` is registered in ``MODEL_WRAPPERS``
   and selected via ``cfg.model_wrapper_cfg``; it passes
   ``device_ids=None`` for CPU modules.
3. The same wrapper reverts SyncBN to BN on CPU (torch has no CPU SyncBN).
   BlendMask configs use GN in the heads and frozen/regular BN in the
   backbone, so this does not matter for them (BN at 1-2 images per device
   breaks training -- AdelaiDet users got AP 0 -- hence GN in the heads).

On machines with CUDA every function here defers to mmengine unchanged, so
GPU behaviour is exactly mmengine's.
"""

import datetime
import os
import subprocess
import warnings
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.device import (
    is_cuda_available,
    is_mlu_available,
    is_musa_available,
    is_npu_available,
)
from mmengine.dist import init_dist, is_distributed
from torch import distributed as torch_dist

_DDP_TYPES = (
    'MMDistributedDataParallel',
    'mmengine.MMDistributedDataParallel',
    'CPUAwareDDP',
)


def accelerator_available() -> bool:
    """Whether mmengine would put the model on a non-CPU device that its own
    distributed code supports (CUDA, NPU, MLU, MUSA)."""
    return (
        is_cuda_available()
        or is_npu_available()
        or is_mlu_available()
        or is_musa_available()
    )


def _cpu_backend(backend: Optional[str]) -> str:
    if backend in (None, 'nccl', 'hccl', 'cncl', 'mccl'):
        if backend is not None:
            warnings.warn(
                f'dist backend {backend!r} needs an accelerator; '
                'no CUDA device is available, using "gloo".'
            )
        return 'gloo'
    return backend


def init_dist_cpu_aware(
    launcher: str,
    backend: Optional[str] = None,
    init_backend: str = 'torch',
    **kwargs,
) -> None:
    """Initialise ``torch.distributed``, also on CPU-only machines.

    With an accelerator this is exactly ``mmengine.dist.init_dist(launcher,
    backend or 'nccl', init_backend, **kwargs)``. Without one, the default
    process group is created with the ``gloo`` backend (``nccl`` and other
    accelerator backends are replaced by ``gloo``) and no
    ``torch.cuda.set_device`` call is made. Environment variables are read
    and set like mmengine does for the ``pytorch``, ``slurm`` and ``mpi``
    launchers.

    Args:
        launcher (str): 'pytorch', 'slurm' or 'mpi'.
        backend (str, optional): Communication backend. Defaults to
            ``'nccl'`` with CUDA and ``'gloo'`` without.
        init_backend (str): Only 'torch' is supported on CPU.
        **kwargs: Passed to ``torch.distributed.init_process_group``
            (``timeout`` in seconds as in mmengine's ``dist_cfg``; ``port``
            for slurm).
    """
    if accelerator_available():
        init_dist(
            launcher,
            backend='nccl' if backend is None else backend,
            init_backend=init_backend,
            **kwargs,
        )
        return

    if init_backend != 'torch':
        raise ValueError(
            f'init_backend={init_backend!r} is not supported '
            'for CPU distributed training; use "torch".'
        )
    backend = _cpu_backend(backend)
    timeout = kwargs.get('timeout', None)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        try:
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        except TypeError as exception:
            raise TypeError(
                'Timeout for distributed training must be provided as '
                f'timeout in seconds, but got {type(timeout)}.'
            ) from exception

    if launcher == 'pytorch':
        kwargs.pop('port', None)
        torch_dist.init_process_group(
            backend=backend,
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs,
        )
    elif launcher == 'slurm':
        port = kwargs.pop('port', None)
        proc_id = int(os.environ['SLURM_PROCID'])
        ntasks = int(os.environ['SLURM_NTASKS'])
        node_list = os.environ['SLURM_NODELIST']
        local_rank = os.environ.get('SLURM_LOCALID', None)
        if local_rank is None:
            ntasks_per_node = int(
                os.environ.get('SLURM_NTASKS_PER_NODE', ntasks).split('(')[0]
            )
            local_rank = str(proc_id % ntasks_per_node)
        if port is not None:
            os.environ['MASTER_PORT'] = str(port)
        elif 'MASTER_PORT' not in os.environ:
            os.environ['MASTER_PORT'] = '29500'
        if 'MASTER_ADDR' not in os.environ:
            os.environ['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {node_list} | head -n1'
            )
        os.environ['WORLD_SIZE'] = str(ntasks)
        os.environ['LOCAL_RANK'] = str(local_rank)
        os.environ['RANK'] = str(proc_id)
        torch_dist.init_process_group(backend=backend, **kwargs)
    elif launcher == 'mpi':
        kwargs.pop('port', None)
        os.environ.setdefault('MASTER_PORT', '29500')
        if 'MASTER_ADDR' not in os.environ:
            raise KeyError('The environment variable MASTER_ADDR is not set')
        os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
        os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
        os.environ['LOCAL_RANK'] = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']
        torch_dist.init_process_group(backend=backend, **kwargs)
    else:
        raise ValueError(f'Invalid launcher type: {launcher}')


def prepare_cpu_distributed(cfg: Config) -> Config:
    """Make ``cfg`` (with ``cfg.launcher`` set) runnable multi-process on
    CPU. No-op when ``cfg.launcher == 'none'`` or an accelerator exists.

    * initialises the process group with :func:`init_dist_cpu_aware`
      (gloo), using ``cfg.env_cfg.dist_cfg`` (its ``backend`` is rewritten to
      ``'gloo'`` so the logged env matches what runs);
    * selects :class:`CPUAwareDDP` through ``cfg.model_wrapper_cfg`` when the
      config uses the default wrapper (``find_unused_parameters`` is carried
      over as mmengine does for its default wrapper); custom wrappers are
      left untouched.

    Returns:
        Config: ``cfg`` itself (modified in place).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or accelerator_available():
        return cfg

    env_cfg = cfg.get('env_cfg', None)
    if env_cfg is None:
        cfg.env_cfg = env_cfg = ConfigDict()
    dist_cfg = env_cfg.get('dist_cfg', None)
    if dist_cfg is None:
        env_cfg.dist_cfg = dist_cfg = ConfigDict()
    dist_cfg['backend'] = _cpu_backend(dist_cfg.get('backend', None))

    if not is_distributed():
        init_dist_cpu_aware(launcher, **dict(dist_cfg))

    wrapper_cfg = cfg.get('model_wrapper_cfg', None)
    if wrapper_cfg is None:
        cfg.model_wrapper_cfg = dict(
            type='CPUAwareDDP',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
    elif wrapper_cfg.get('type', 'MMDistributedDataParallel') in _DDP_TYPES:
        wrapper_cfg['type'] = 'CPUAwareDDP'
    return cfg
