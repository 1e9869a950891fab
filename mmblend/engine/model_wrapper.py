"""A DDP model wrapper that also works on CPU (gloo backend).

mmengine's :meth:`Runner.wrap_model` always builds
``MMDistributedDataParallel(module, device_ids=[LOCAL_RANK])``. On a CPU-only
machine ``torch.nn.parallel.DistributedDataParallel`` rejects ``device_ids``
for a CPU module ("DistributedDataParallel device_ids and output_device
arguments only work with single-device/multiple-device GPU modules or CPU
modules, but got device_ids [0] ... input module on cpu"), so stock mmengine
cannot train multi-process on CPU.

:class:`CPUAwareDDP` is registered in mmengine's root ``MODEL_WRAPPERS``
registry (so it is visible from every downstream scope, ``mmdet`` included)
and is selected through the supported ``model_wrapper_cfg`` config field::

    model_wrapper_cfg = dict(type='CPUAwareDDP', broadcast_buffers=False,
                             find_unused_parameters=False)

``tools/train.py`` / ``tools/test.py`` do this automatically when no CUDA
device is present (see :func:`mmblend.engine.prepare_cpu_distributed`).

Behaviour:

* When the wrapped module lives on a CUDA (or other accelerator) device the
  wrapper is *exactly* ``MMDistributedDataParallel`` -- all arguments are
  passed through untouched.
* When the module lives on the CPU, ``device_ids`` and ``output_device`` are
  forced to ``None`` (the only values torch accepts for CPU modules) and any
  ``SyncBatchNorm`` layers (torch's or mmcv's) are reverted to plain
  ``BatchNorm`` with a warning.

SyncBN on CPU
-------------
``torch.nn.SyncBatchNorm`` is not supported on CPU tensors by torch (its
forward raises ``ValueError: SyncBatchNorm expected input tensor to be on
GPU``), and mmcv's SyncBN is CUDA-only as well. That is why the wrapper
reverts SyncBN on CPU (each process then normalises with its own batch
statistics). BlendMask configs do not rely on SyncBN anyway: the heads
(FCOS-style box tower, the basis module / protonet and the attention
branch) use GroupNorm, and the backbone uses frozen BN
(``requires_grad=False``, ``norm_eval=True``) or regular BN. With the 1-2
images per device typical for instance segmentation, batch statistics are
far too noisy -- AdelaiDet users who trained BlendMask with BN in the heads
at such batch sizes reported AP 0 -- so the heads use GN, which is
independent of the batch size and needs no cross-process synchronisation.
"""

import warnings

import torch
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS


def _module_device_type(module: torch.nn.Module) -> str:
    for tensor in module.parameters():
        return tensor.device.type
    for tensor in module.buffers():
        return tensor.device.type
    return 'cpu'


def _has_sync_bn(module: torch.nn.Module) -> bool:
    for m in module.modules():
        # torch.nn.SyncBatchNorm and mmcv.ops.SyncBatchNorm
        if (
            isinstance(m, torch.nn.SyncBatchNorm)
            or type(m).__name__ == 'SyncBatchNorm'
        ):
            return True
    return False


@MODEL_WRAPPERS.register_module()
class CPUAwareDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` for CPU
    modules (gloo backend) and reverts SyncBN there.

    Args:
        module (nn.Module): Model to wrap (already moved to its device by
            ``Runner.wrap_model``).
        detect_anomalous_params (bool): See ``MMDistributedDataParallel``.
        **kwargs: Passed to ``torch.nn.parallel.DistributedDataParallel``.
            ``device_ids``/``output_device`` are ignored (set to ``None``)
            when ``module`` is on the CPU.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        detect_anomalous_params: bool = False,
        **kwargs,
    ) -> None:
        if _module_device_type(module) == 'cpu':
            kwargs['device_ids'] = None
            kwargs['output_device'] = None
            if _has_sync_bn(module):
                warnings.warn(
                    'SyncBatchNorm is not supported on CPU by torch; '
                    'reverting SyncBN layers to BatchNorm for CPU '
                    'distributed training (statistics are per process). '
                    'Prefer GN (heads) and frozen BN (backbone).'
                )
                module = revert_sync_batchnorm(module)
        super().__init__(
            module=module,
            detect_anomalous_params=detect_anomalous_params,
            **kwargs,
        )
