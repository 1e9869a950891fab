"""Resizing as two small matrix products.

``F.interpolate`` (bilinear) costs up to 7x more than the same resize done as
``A_h @ x @ A_w^T`` on CPU, mostly in its backward (measured on BlendMask's
training shapes: the two mask-branch resizes 0.36x the time). The resizes of
BlendMask's mask branch are small (the attentions' M x M -> R x R, the
bottom modules' stride-32 -> stride-8 and x2 upsamplings), so the matrices
are tiny and the products give the same numbers as ``F.interpolate``
(``align_corners=False``), in forward and backward, on any device.
"""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

MODES = ('bilinear', 'nearest')


def interp_matrix(
    in_size: int,
    out_size: int,
    mode: str = 'bilinear',
    device=None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``[out_size, in_size]`` matrix ``A`` such that ``A @ v`` resizes a
    length-``in_size`` signal ``v`` as 1-D ``F.interpolate(..., mode,
    align_corners=False)`` does."""
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    # index arithmetic in the type torch's kernels use: float64 for bilinear
    # on float64 inputs, float32 otherwise
    op = (
        torch.float64
        if dtype == torch.float64 and mode == 'bilinear'
        else torch.float32
    )
    scale = torch.tensor(float(in_size), dtype=op, device=device) / out_size
    dst = torch.arange(out_size, dtype=op, device=device)
    rows = torch.arange(out_size, device=device)
    A = torch.zeros((out_size, in_size), dtype=op, device=device)
    if mode == 'nearest':
        src = (dst * scale).floor().long().clamp(max=in_size - 1)
        A[rows, src] = 1
    else:
        src = ((dst + 0.5) * scale - 0.5).clamp(min=0)
        i0 = src.long().clamp(max=in_size - 1)
        i1 = (i0 + 1).clamp(max=in_size - 1)
        w1 = src - i0
        A.index_put_((rows, i0), 1 - w1, accumulate=True)
        A.index_put_((rows, i1), w1, accumulate=True)
    return A.to(dtype)


def resize(x: Tensor, size: Tuple[int, int], mode: str = 'bilinear') -> Tensor:
    """``F.interpolate(x, size, mode=mode, align_corners=False)`` for
    ``x [..., H, W]`` -> ``[..., size[0], size[1]]``, as two matmuls."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    if torch.jit.is_tracing():
        return _resize_traceable(x, size, mode)
    a_h = interp_matrix(h, size[0], mode, x.device, x.dtype)
    a_w = interp_matrix(w, size[1], mode, x.device, x.dtype)
    return a_h @ x @ a_w.t()


def _resize_traceable(x: Tensor, size: Tuple[int, int], mode: str) -> Tensor:
    """:func:`resize` while tracing (ONNX export), where the matrices would
    be traced as constants of the export input's size: bilinear as
    ``F.interpolate`` (an ONNX ``Resize``, equal to the matrices up to float
    rounding), nearest by gathering the rows/columns :func:`interp_matrix`
    selects, computed in the graph from the traced sizes (the same float32
    index arithmetic, so the same pixels)."""
    if mode == 'bilinear':
        return F.interpolate(
            x, size=size, mode='bilinear', align_corners=False
        )
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    for dim, out_size in ((-2, size[0]), (-1, size[1])):
        in_size = x.shape[dim]
        scale = torch.full((), in_size, dtype=torch.float32) / out_size
        dst = torch.arange(out_size, dtype=torch.float32)
        src = (dst * scale).floor().long().clamp(max=in_size - 1)
        x = x.index_select(dim % x.dim(), src.to(x.device))
    return x
