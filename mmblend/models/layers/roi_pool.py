# Copyright (c) mmblend contributors. All rights reserved.
"""RoI max pooling with a plain PyTorch CPU path.

``mmcv.ops.roi_pool`` (mmcv 2.1) has no CPU kernel (``roi_pool_forward_impl:
implementation for device cpu not found``). :func:`roi_pool` sends non-CPU
tensors to mmcv and computes CPU tensors with the semantics of mmcv's CUDA
kernel (``mmcv/ops/csrc/common/cuda/roi_pool_cuda_kernel.cuh``), per roi
``(b, x1, y1, x2, y2)`` and bin ``(ph, pw)``, in the input dtype ``T``::

    s = T(float32(spatial_scale)); b = int(rois[0])
    roi_x1 = x1 * s;  roi_w = (x2 + 1) * s - roi_x1  # corners not rounded
    roi_w <= 0 or roi_h <= 0: out = 0, argmax = 0
        # (so backward adds these bins' grad to [b, c, 0, 0])
    bin_w = roi_w / pooled_w
    x range [floor(pw * bin_w + roi_x1), ceil((pw + 1) * bin_w + roi_x1))
    (y likewise), clipped to the map; empty bin: out = 0, argmax = -1
    else: the first maximum in row-major order among values > -FLT_MAX (NaN
    never wins); none: out = -FLT_MAX, argmax = -1
    backward: grad_input[b, c].flat[argmax] += grad_out (argmax != -1)

This is *not* torchvision's RoIPool (which rounds the corners). One known
difference from CUDA: nvcc fuses ``pw * bin_w + roi_x1`` into one
multiply-add (float32/float64), computed here with two roundings. The bin
borders differ only where that sum is within one rounding of an integer (an
exact tie, e.g. integer corners with ``bin_w = 8 / 6``); such a bin is one
row or column larger or smaller than CUDA's. ``tests/models/layers/
test_roi_pool.py`` compares with a transcription of the kernel, counting
and bounding these bins.
"""

from typing import Any, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

__all__ = ['roi_pool', 'RoIPool']

_FLT_MAX = float(torch.finfo(torch.float32).max)


def _bin_borders(
    start: Tensor, size: Tensor, pooled: int, limit: int
) -> Tuple[Tensor, Tensor]:
    """Integer bin borders ``[lo, hi)``, ``[n, pooled]``, clipped to
    ``[0, limit]`` (NaN -> 0, as CUDA's float -> int conversion)."""
    p = torch.arange(pooled + 1, dtype=start.dtype, device=start.device)
    edges = p * (size / pooled)[:, None] + start[:, None]
    lo, hi = torch.floor(edges[:, :-1]), torch.ceil(edges[:, 1:])
    return tuple(
        torch.nan_to_num(v.float(), 0.0).clamp(0, limit).long()
        for v in (lo, hi)
    )


def _roi_pool_forward(
    input: Tensor,
    rois: Tensor,
    output_size: Tuple[int, int],
    spatial_scale: float,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Returns ``(output [n, C, oh, ow], argmax [n, C, oh, ow], batch
    indices [n])``; ``argmax`` is the flat ``h * W + w`` index or -1."""
    N, C, H, W = input.shape
    oh, ow = output_size
    src = input.detach()
    dev = src.device
    r = rois.detach().to(src.dtype)  # the kernel reads rois as T
    scale = torch.tensor(spatial_scale, dtype=torch.float32).to(src.dtype)
    thr = torch.tensor(-_FLT_MAX, dtype=torch.float32).to(src.dtype)
    batch = r[:, 0].long()
    x1, y1 = r[:, 1] * scale, r[:, 2] * scale
    roi_w, roi_h = (r[:, 3] + 1) * scale - x1, (r[:, 4] + 1) * scale - y1
    xs, xe = _bin_borders(x1, roi_w, ow, W)
    ys, ye = _bin_borders(y1, roi_h, oh, H)
    output = src.new_zeros((r.size(0), C, oh, ow))
    argmax = torch.full_like(output, -1, dtype=torch.long)
    for i in range(r.size(0)):
        if roi_w[i] <= 0 or roi_h[i] <= 0:  # the kernel skips these bins
            argmax[i] = 0
            continue
        x0, x9 = int(xs[i].min()), int(xe[i].max())
        y0, y9 = int(ys[i].min()), int(ye[i].max())
        if x9 <= x0 or y9 <= y0:
            continue  # every bin empty (also NaN corners)
        crop = src[batch[i], :, y0:y9, x0:x9]  # [C, h, w]
        crop = crop.masked_fill(~(crop > thr), -float('inf'))
        w_pos = torch.arange(x0, x9, device=dev)
        h_pos = torch.arange(y0, y9, device=dev)
        in_col = (w_pos >= xs[i, :, None]) & (w_pos < xe[i, :, None])
        in_row = (h_pos >= ys[i, :, None]) & (h_pos < ye[i, :, None])
        # the first maximum of every row within each bin's columns, then
        # the first row holding the bin's maximum: row-major first maximum
        col_val, col = (
            crop[:, :, None, :].masked_fill(~in_col, -float('inf')).max(-1)
        )  # [C, h, ow]
        val, row = (
            col_val[:, None]
            .masked_fill(~in_row[:, :, None], -float('inf'))
            .max(2)
        )  # [C, oh, ow]
        idx = (y0 + row) * W + x0 + col.gather(1, row)
        empty = (ye[i] <= ys[i])[:, None] | (xe[i] <= xs[i])[None, :]
        none_valid = ~(val > thr) & ~empty
        output[i] = val.masked_fill(none_valid, thr).masked_fill(empty, 0)
        argmax[i] = idx.masked_fill(none_valid | empty, -1)
    return output, argmax, batch


class _RoIPoolCPU(Function):
    """Autograd of the CPU path: the gradient goes to the argmax."""

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        rois: Tensor,
        output_size: Tuple[int, int],
        spatial_scale: float,
    ) -> Tensor:
        output, argmax, batch = _roi_pool_forward(
            input, rois, output_size, spatial_scale
        )
        ctx.input_shape = input.shape
        ctx.save_for_backward(argmax, batch)
        return output

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, grad_output: Tensor
    ) -> Tuple[Optional[Tensor], None, None, None]:
        argmax, batch = ctx.saved_tensors
        N, C, H, W = ctx.input_shape
        grad_input = grad_output.new_zeros((N * C * H * W,))
        ch = torch.arange(C, device=argmax.device)
        plane = (batch[:, None] * C + ch) * (H * W)
        flat = plane[:, :, None, None] + argmax
        keep = argmax >= 0
        grad_input.index_add_(0, flat[keep], grad_output[keep])
        return grad_input.view(N, C, H, W), None, None, None


def roi_pool(
    input: Tensor,
    rois: Tensor,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
) -> Tensor:
    """RoI max pooling as mmcv's CUDA ``roi_pool``, on every device.

    Args:
        input (Tensor): Feature map ``[N, C, H, W]`` (floating point).
        rois (Tensor): ``[n, 5]`` rows ``(batch_idx, x1, y1, x2, y2)`` in
            image coordinates (cast to ``input.dtype``, as the kernel does).
        output_size (int | tuple[int, int]): ``(out_h, out_w)``.
        spatial_scale (float): Image-to-feature scale (1/4 for stride 4).

    Returns:
        Tensor: ``[n, C, out_h, out_w]``. Gradients flow to ``input`` only.

    Non-CPU tensors with ``n > 0`` go to ``mmcv.ops.roi_pool`` (made
    contiguous, as the kernel indexes raw memory; a zero-size launch would
    fail); the rest uses the plain path of the module docstring.
    """
    output_size = _pair(output_size)
    if input.dim() != 4 or rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError(
            'roi_pool needs input [N, C, H, W] and rois [n, 5] '
            f'(idx, x1, y1, x2, y2); got {tuple(input.shape)} '
            f'and {tuple(rois.shape)}'
        )
    if input.device.type != 'cpu' and rois.size(0) > 0:
        from mmcv.ops import roi_pool as mmcv_roi_pool

        return mmcv_roi_pool(
            input.contiguous(),
            rois.to(input.dtype).contiguous(),
            output_size,
            float(spatial_scale),
        )
    return _RoIPoolCPU.apply(input, rois, output_size, float(spatial_scale))


class RoIPool(nn.Module):
    """RoI max pooling layer (drop-in for ``mmcv.ops.RoIPool``, CPU-capable).

    Args:
        output_size (int | tuple[int, int]): ``(out_h, out_w)``.
        spatial_scale (float): Image-to-feature scale.

    Shapes: input ``[N, C, H, W]``, rois ``[n, 5]`` as ``(batch_idx, x1, y1,
    x2, y2)`` in image coordinates, output ``[n, C, out_h, out_w]``.
    Semantics: :mod:`mmblend.models.layers.roi_pool`.
    """

    def __init__(
        self,
        output_size: Union[int, Tuple[int, int]],
        spatial_scale: float = 1.0,
    ):
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(output_size={self.output_size}, '
            f'spatial_scale={self.spatial_scale})'
        )
