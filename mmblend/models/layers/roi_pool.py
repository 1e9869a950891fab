# Copyright (c) mmblend contributors. All rights reserved.
"""RoI max pooling with a pure-PyTorch CPU path.

``mmcv.ops.roi_pool`` (mmcv 2.1) ships CUDA/MLU/NPU kernels only: calling it on
CPU tensors raises ``roi_pool_forward_impl: implementation for device cpu not
found``. :func:`roi_pool` dispatches non-CPU tensors to mmcv and computes CPU
tensors with a vectorised PyTorch re-implementation of mmcv's CUDA kernel
(``mmcv/ops/csrc/common/cuda/roi_pool_cuda_kernel.cuh``), including its
corner cases, so that CPU and CUDA give the same results.

Semantics (mmcv 2.1 CUDA kernel, per roi ``(b, x1, y1, x2, y2)`` and output
bin ``(ph, pw)``; ``T`` is the input dtype, ``s = T(float32(scale))``)::

    b      = int(rois[0])                     # truncation
    roi_x1 = x1 * s          roi_y1 = y1 * s  # NO rounding to integers
    roi_x2 = (x2 + 1) * s    roi_y2 = (y2 + 1) * s
    roi_w  = roi_x2 - roi_x1    roi_h = roi_y2 - roi_y1
    if roi_w <= 0 or roi_h <= 0:  # malformed roi: every bin is skipped, so
        out = 0, argmax = 0       # out and argmax keep their zero-init;
                                  # backward therefore adds the gradient of
                                  # these bins to input[b, c, 0, 0] (quirk)
    bin_w = roi_w / pooled_w    bin_h = roi_h / pooled_h  # float
    wstart = floor(pw * bin_w + roi_x1)
    wend = ceil((pw + 1) * bin_w + roi_x1)
    hstart = floor(ph * bin_h + roi_y1)
    hend = ceil((ph + 1) * bin_h + roi_y1)
    clip wstart, wend to [0, W] and hstart, hend to [0, H]
    empty bin (hend <= hstart or wend <= wstart): out = 0, argmax = -1
    else: scan h in [hstart, hend), w in [wstart, wend) row-major, starting
        from max_val = -FLT_MAX, max_idx = -1, and take a value iff
        ``value > max_val`` -> first maximum in row-major order wins ties;
        NaNs and values <= -FLT_MAX are never taken (a bin holding only such
        values gives out = -FLT_MAX, argmax = -1).
    backward: grad_input[b, c].flat[argmax] += grad_out  (if argmax != -1)

Note that this is *not* the Caffe/torchvision RoIPool (which rounds the roi
corners with ``round()`` and uses ``max(x2 - x1 + 1, 1)`` as roi size): mmcv
2.x keeps fractional roi corners and only floors/ceils the bin borders.

Floating point (bit-exact bin borders): nvcc compiles with ``--fmad=true``
by default, so for float32/float64 the kernel evaluates
``p * bin_w + roi_x1`` as one fused multiply-add (single rounding), and
``roi_w = roi_x2 - roi_x1`` as ``fma(x2 + 1, s, -roi_x1)`` (roi_x2 has a single
use; for the power-of-two scales used by MMDetection this equals the unfused
form anyway). The CPU path emulates these FMAs: exactly for float32 (exact
float64 product, TwoSum and round-to-odd, then one rounding to float32) and
to double-double accuracy for float64. For float16 the kernel's ``at::Half``
operators round every intermediate to half (no FMA possible), which is
reproduced by rounding each float32 result to half.
"""
import math
from typing import Any, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable
from torch.nn.modules.utils import _pair

__all__ = ['roi_pool', 'RoIPool']

_FLT_MAX = float(torch.finfo(torch.float32).max)
# Budget (in elements) for the per-channel-chunk working set of the CPU path.
_CHUNK_ELEMS = 1 << 23


def _mmcv_roi_pool():
    """Return ``mmcv.ops.roi_pool`` or None if mmcv ops are unavailable."""
    try:
        from mmcv.ops import roi_pool as mmcv_roi_pool
    except (ImportError, OSError):  # pragma: no cover - env dependent
        return None
    return mmcv_roi_pool


def _floor_log2(x: Tensor, max_val: int) -> Tensor:
    """Exact ``floor(log2(x))`` for integer tensors with ``1 <= x``."""
    k = torch.zeros_like(x)
    j = 1
    while (1 << j) <= max_val:
        k += (x >= (1 << j)).to(x.dtype)
        j += 1
    return k


def _two_sum(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    """Knuth's TwoSum: ``a + b == s + e`` exactly (finite inputs)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _split(a: Tensor) -> Tuple[Tensor, Tensor]:
    """Veltkamp split of float64 ``a`` into two 26-bit halves."""
    t = a * 134217729.0  # 2^27 + 1
    hi = t - (t - a)
    return hi, a - hi


class _KernelArith:
    """Arithmetic of the CUDA kernel's scalar type ``T`` on CPU tensors.

    Values are carried in float32 (T = float32/float16) or float64
    (T = float64) tensors; ``fma`` reproduces nvcc's contracted
    multiply-add (float16: separately rounded mul and add).
    """

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype
        self.carrier = torch.float64 if dtype == torch.float64 \
            else torch.float32

    def rnd(self, x: Tensor) -> Tensor:
        if self.dtype == torch.float16:
            return x.half().to(self.carrier)
        return x

    def mul(self, a: Tensor, b: Tensor) -> Tensor:
        return self.rnd(a * b)

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        return self.rnd(a + b)

    def div(self, a: Tensor, b: Tensor) -> Tensor:
        return self.rnd(a / b)

    def fma(self, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
        """``a * b + c`` as computed by the kernel (broadcasting)."""
        if self.dtype == torch.float16:
            return self.add(self.mul(a, b), c)
        if self.dtype == torch.float32:
            # a * b is exact in float64; TwoSum + round-to-odd makes the
            # final rounding to float32 the only (correct) rounding.
            s, e = _two_sum(a.double() * b.double(), c.double())
            bits = s.view(torch.int64)
            fix = (e != 0) & ((bits & 1) == 0) & torch.isfinite(s)
            inf = s.new_tensor(float('inf'))
            s = torch.where(fix,
                            torch.nextafter(s, torch.where(e > 0, inf, -inf)),
                            s)
            return s.float()
        # float64: Dekker TwoProduct + TwoSum (double-double accuracy)
        a, b, c = torch.broadcast_tensors(a, b, c)
        p = a * b
        ah, al = _split(a)
        bh, bl = _split(b)
        err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
        s, e = _two_sum(p, c)
        out = s + (e + err)
        return torch.where(torch.isfinite(out), out, p + c)


def _bin_borders(ar: _KernelArith, start: Tensor, bin_size: Tensor,
                 pooled: int, size: int) -> Tuple[Tensor, Tensor]:
    """Clipped integer bin borders ``[lo, hi)`` of shape ``[n, pooled]``.

    ``lo = floor(p * bin + start)``, ``hi = ceil((p + 1) * bin + start)``,
    clipped to ``[0, size]``; CUDA's float->int conversion maps NaN to 0 and
    saturates infinities, which the clamp below reproduces.
    """
    p = ar.rnd(torch.arange(pooled + 1, dtype=ar.carrier, device=start.device))
    edges = ar.fma(p[None, :], bin_size[:, None], start[:, None])
    lo = torch.floor(edges[:, :-1])
    hi = torch.ceil(edges[:, 1:])

    def _to_int(v: Tensor) -> Tensor:
        v = torch.nan_to_num(v, nan=0.0, posinf=size + 1.0, neginf=-1.0)
        return v.clamp_(-1.0, size + 1.0).long().clamp_(0, size)

    return _to_int(lo), _to_int(hi)


def _sort_keys(values: Tensor, valid: Tensor) -> Tensor:
    """int64 keys whose order is the kernel's order of candidate values.

    Valid values map to an order-preserving integer (-0.0 == +0.0, as for
    the kernel's ``>``), invalid ones (NaN, <= -FLT_MAX) below every valid
    one. The result fits in 32 signed bits, leaving room for an index.
    """
    if values.dtype in (torch.float32, torch.float16, torch.bfloat16):
        v = torch.where(valid, values + 0.0, values.new_full((), -math.inf))
        int_t = torch.int32 if v.dtype == torch.float32 else torch.int16
        bits = v.view(int_t).long()
        mag = (1 << (torch.iinfo(int_t).bits - 1)) - 1
        return torch.where(bits < 0, bits ^ mag, bits)
    # float64: dense ranks (equal values -> equal ranks)
    v = torch.where(valid, values + 0.0, values.new_full((), -math.inf))
    _, rank = torch.unique(v, sorted=True, return_inverse=True)
    return rank.long()


def _roi_pool_forward_pytorch(
        input: Tensor, rois: Tensor, output_size: Tuple[int, int],
        spatial_scale: float) -> Tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch forward. Returns ``(output, argmax, batch_inds)``.

    ``argmax`` (int64, ``[n, C, oh, ow]``) holds the flat ``h * W + w`` index
    of the pooled element in image ``batch_inds[i]`` or -1.

    Vectorisation: range maxima over the (clipped, integer) bin rectangles
    are answered with a 2-D sparse table: ``M[kx, ky][y, x]`` is the
    max/argmax over ``[y, y + 2^ky) x [x, x + 2^kx)``; a bin of size
    ``ly x lx`` is the union of 4 (overlapping) such squares with
    ``ky = floor(log2 ly)``, ``kx = floor(log2 lx)``. Only the ``(kx, ky)``
    levels actually used are materialised, channels are processed in chunks
    to bound memory. Table entries are int64 keys ``(value order) << 32 |
    (2^32 - 1 - h * W - w)``, so a plain ``max`` yields the maximum with
    ties resolved by the smallest row-major index, which is the CUDA
    kernel's first-``>``-in-scan-order rule.
    """
    N, C, H, W = input.shape
    oh, ow = output_size
    n = rois.size(0)
    device = input.device
    dtype = input.dtype
    if n == 0:
        return (input.new_zeros((0, C, oh, ow)),
                torch.zeros((0, C, oh, ow), dtype=torch.long, device=device),
                torch.zeros((0, ), dtype=torch.long, device=device))

    # --- roi geometry, in the kernel's arithmetic type -------------------
    ar = _KernelArith(dtype)
    rois_t = rois.detach().to(dtype)  # the kernel reads rois as T
    r = rois_t.to(ar.carrier)
    # python float -> C++ float -> static_cast<T>
    scale = torch.tensor(float(spatial_scale),
                         dtype=torch.float32).to(dtype).to(
                             ar.carrier).to(device)
    one = ar.rnd(r.new_ones(()))
    batch_inds = rois_t[:, 0].long()  # float -> int truncation
    roi_x1 = ar.mul(r[:, 1], scale)
    roi_y1 = ar.mul(r[:, 2], scale)
    # roi_w = roi_x2 - roi_x1 with roi_x2 = (x2 + 1) * s contracted
    roi_w = ar.fma(ar.add(r[:, 3], one), scale, -roi_x1)
    roi_h = ar.fma(ar.add(r[:, 4], one), scale, -roi_y1)
    malformed = (roi_w <= 0) | (roi_h <= 0)  # NaN sizes are not malformed
    bin_w = ar.div(roi_w, ar.rnd(r.new_tensor(float(ow))))
    bin_h = ar.div(roi_h, ar.rnd(r.new_tensor(float(oh))))
    xs, xe = _bin_borders(ar, roi_x1, bin_w, ow, W)  # [n, ow]
    ys, ye = _bin_borders(ar, roi_y1, bin_h, oh, H)  # [n, oh]
    lx = xe - xs
    ly = ye - ys
    empty = (ly[:, :, None] <= 0) | (lx[:, None, :] <= 0)  # [n, oh, ow]
    empty |= malformed[:, None, None]
    kx = _floor_log2(lx.clamp(min=1), W)  # [n, ow]
    ky = _floor_log2(ly.clamp(min=1), H)  # [n, oh]
    kx_b = kx[:, None, :].expand(n, oh, ow)
    ky_b = ky[:, :, None].expand(n, oh, ow)
    # levels actually needed (ignore empty bins)
    pair_code = (kx_b * 64 + ky_b)[~empty]
    codes = torch.bincount(pair_code, minlength=64 * 64).nonzero()
    needed = [(c // 64, c % 64) for c in codes.flatten().tolist()]

    argmax = torch.full((n, C, oh, ow), -1, dtype=torch.long, device=device)
    src = input.detach()
    thr = torch.tensor(-_FLT_MAX, dtype=torch.float32).to(dtype).item()
    if needed:
        # level geometry: level li covers [y, y + 2^ky) x [x, x + 2^kx) and
        # has shape [N, H - 2^ky + 1, W - 2^kx + 1] (flattened, stacked)
        lvl_of = torch.zeros((64, 64), dtype=torch.long, device=device)
        lvl_h, lvl_w, lvl_off, off = [], [], [], 0
        for li, (a, b) in enumerate(needed):
            lvl_of[a, b] = li
            lvl_h.append(H - (1 << b) + 1)
            lvl_w.append(W - (1 << a) + 1)
            lvl_off.append(off)
            off += N * lvl_h[-1] * lvl_w[-1]
        lid = lvl_of[kx_b, ky_b]  # [n, oh, ow]
        hl = torch.tensor(lvl_h, device=device)[lid]
        wl = torch.tensor(lvl_w, device=device)[lid]
        base = torch.tensor(lvl_off, device=device)[lid] + \
            batch_inds[:, None, None] * hl * wl
        # the 4 (overlapping) power-of-two squares covering every bin
        pow_y = torch.bitwise_left_shift(torch.ones_like(ky), ky)
        pow_x = torch.bitwise_left_shift(torch.ones_like(kx), kx)
        y_a, y_b = ys[:, :, None], (ye - pow_y)[:, :, None]
        x_a, x_b = xs[:, None, :], (xe - pow_x)[:, None, :]
        corners = [  # empty bins read row 0; overwritten below
            torch.where(empty, 0, base + yy * wl + xx).reshape(-1)
            for yy in (y_a, y_b) for xx in (x_a, x_b)
        ]

        # channels-last so one gathered row is a contiguous channel vector;
        # key = (value order) << 32 | (2^32 - 1 - h * W - w): the max key is
        # the max value, ties going to the first element in row-major order
        keys = _sort_keys(src, src > thr)  # [N, C, H, W]
        pos = torch.arange(H * W, device=device).view(1, 1, H, W)
        keys = (keys << 32) | (0xFFFFFFFF - pos)
        keys = keys.permute(0, 2, 3, 1)  # [N, H, W, C] view
        per_c = 2 * off + 5 * n * oh * ow
        chunk = max(1, min(C, _CHUNK_ELEMS // max(per_c, 1)))
        max_kx = max(a for a, _ in needed)
        best = torch.empty((n * oh * ow, C), dtype=torch.long, device=device)
        table = torch.empty((off, chunk), dtype=torch.long, device=device)

        def _max(x: Tensor, y: Tensor, li: Optional[int]) -> Tensor:
            if li is None:
                return torch.maximum(x, y)
            dst = table[lvl_off[li]:lvl_off[li] + x[..., 0].numel()]
            return torch.maximum(x, y, out=dst.view(x.shape))

        for c0 in range(0, C, chunk):
            c1 = min(C, c0 + chunk)
            if c1 - c0 < chunk:
                table = table[:, :c1 - c0].contiguous()
            lvl = {pair: li for li, pair in enumerate(needed)}
            cur = keys[..., c0:c1].contiguous()
            if (0, 0) in lvl:  # level (0, 0) is the input itself
                o = lvl_off[lvl[(0, 0)]]
                table[o:o + N * H * W] = cur.view(-1, c1 - c0)
            for a in range(max_kx + 1):
                if a > 0:  # [x, x + 2^(a-1)) -> [x, x + 2^a)
                    s = 1 << (a - 1)
                    cur = _max(cur[:, :, :-s], cur[:, :, s:], lvl.get((a, 0)))
                kys = [b for aa, b in needed if aa == a]
                ycur = cur
                for b in range(1, max(kys, default=0) + 1):
                    s = 1 << (b - 1)  # [y, y + 2^(b-1)) -> [y, y + 2^b)
                    ycur = _max(ycur[:, :-s], ycur[:, s:], lvl.get((a, b)))
            res = table[corners[0]]
            for idx in corners[1:]:
                res = torch.maximum(res, table[idx])
            best[:, c0:c1] = res
        best_pos = 0xFFFFFFFF - (best & 0xFFFFFFFF)  # [n * oh * ow, C]
        argmax = best_pos.view(n, oh, ow, C).permute(0, 3, 1, 2)
    # output = input at argmax (keeps e.g. the sign of zeros)
    plane = batch_inds[:, None] * C + torch.arange(C, device=device)
    e = empty[:, None].expand(n, C, oh, ow)
    argmax = argmax.masked_fill(e, 0)
    output = src.reshape(N * C, H * W)[plane[:, :, None,
                                             None].expand(n, C, oh, ow),
                                       argmax]
    none_valid = ~(output > thr)  # bin of NaN / <= -FLT_MAX values only
    output = output.masked_fill(none_valid, thr).masked_fill(e, 0)
    argmax = argmax.masked_fill(none_valid | e, -1)
    # malformed rois: kernel `continue`s -> zero-initialised argmax stays 0
    argmax = argmax.masked_fill(malformed[:, None, None, None], 0)
    return output, argmax, batch_inds


class _RoIPoolPyTorch(Function):
    """Autograd function for the pure-PyTorch path (argmax routing)."""

    @staticmethod
    def forward(ctx: Any, input: Tensor, rois: Tensor,
                output_size: Tuple[int, int], spatial_scale: float) -> Tensor:
        output, argmax, batch_inds = _roi_pool_forward_pytorch(
            input, rois, output_size, spatial_scale)
        ctx.input_shape = input.shape
        ctx.save_for_backward(argmax, batch_inds)
        return output

    @staticmethod
    @once_differentiable
    def backward(
            ctx: Any,
            grad_output: Tensor) -> Tuple[Optional[Tensor], None, None, None]:
        argmax, batch_inds = ctx.saved_tensors
        N, C, H, W = ctx.input_shape
        grad_input = grad_output.new_zeros((N * C * H * W, ))
        n = argmax.size(0)
        if n > 0:
            ch = torch.arange(C, device=argmax.device)
            plane = (batch_inds[:, None] * C + ch[None, :]) * (H * W)
            flat = plane[:, :, None, None] + argmax
            keep = argmax >= 0
            grad_input.index_add_(0, flat[keep], grad_output[keep])
        return grad_input.view(N, C, H, W), None, None, None


def roi_pool(input: Tensor,
             rois: Tensor,
             output_size: Union[int, Tuple[int, int]],
             spatial_scale: float = 1.0) -> Tensor:
    """RoI max pooling, identical to mmcv's CUDA ``roi_pool`` on every device.

    Args:
        input (Tensor): Feature map ``[N, C, H, W]`` (floating point).
        rois (Tensor): ``[n, 5]`` rows ``(batch_idx, x1, y1, x2, y2)`` in
            input-image coordinates (cast to ``input.dtype``, as the kernel
            reads them with the input's type).
        output_size (int | tuple[int, int]): ``(out_h, out_w)``.
        spatial_scale (float): Scale from image to feature coordinates
            (e.g. 1/4 for a stride-4 map).

    Returns:
        Tensor: ``[n, C, out_h, out_w]``; ``n == 0`` gives an empty tensor.

    Non-CPU tensors go to ``mmcv.ops.roi_pool`` (made contiguous first, as
    the mmcv kernel indexes raw memory); CPU tensors (and any device when
    mmcv ops are unavailable, or ``n == 0``, where the CUDA launch of a
    zero-size grid would fail) use the pure-PyTorch implementation of the
    same kernel; see the module docstring for the exact semantics.
    Gradients flow to ``input`` only.
    """
    output_size = _pair(output_size)
    assert input.dim() == 4, 'input must be [N, C, H, W]'
    assert rois.dim() == 2 and rois.size(1) == 5, \
        'RoI must be (idx, x1, y1, x2, y2)!'
    if input.device.type != 'cpu' and rois.size(0) > 0:
        mmcv_roi_pool = _mmcv_roi_pool()
        if mmcv_roi_pool is not None:
            return mmcv_roi_pool(input.contiguous(),
                                 rois.to(input.dtype).contiguous(),
                                 output_size, float(spatial_scale))
    return _RoIPoolPyTorch.apply(input, rois, output_size,
                                 float(spatial_scale))


class RoIPool(nn.Module):
    """RoI max pooling layer (drop-in for ``mmcv.ops.RoIPool``, CPU-capable).

    Args:
        output_size (int | tuple[int, int]): ``(out_h, out_w)`` of each
            pooled roi.
        spatial_scale (float): Scale from image to feature coordinates.

    Shapes:
        - input: ``[N, C, H, W]``
        - rois: ``[n, 5]`` as ``(batch_idx, x1, y1, x2, y2)`` in image
          coordinates
        - output: ``[n, C, out_h, out_w]``

    Semantics are exactly those of mmcv 2.1's CUDA kernel: roi corners are
    scaled but not rounded (``x2``/``y2`` get ``+1`` before scaling), bins are
    ``floor(p * bin + start)`` .. ``ceil((p + 1) * bin + start)`` clipped to
    the map, an empty bin outputs 0, otherwise the maximum with ties going to
    the first element in row-major order, whose position receives the whole
    gradient. See :mod:`mmblend.models.layers.roi_pool` for all details.
    """

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 spatial_scale: float = 1.0):
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        s = self.__class__.__name__
        s += f'(output_size={self.output_size}, '
        s += f'spatial_scale={self.spatial_scale})'
        return s
