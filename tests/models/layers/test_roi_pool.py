# Copyright (c) mmblend contributors. All rights reserved.
"""Tests for mmblend.models.layers.roi_pool: the CPU path equals mmcv's CUDA
kernel except at exact bin-boundary ties, which are counted and bounded."""

import math
import struct
from fractions import Fraction

import pytest
import torch

from mmblend.models.layers.roi_pool import RoIPool, roi_pool

FLT_MAX = float(torch.finfo(torch.float32).max)


# ---------------------------------------------------------------------------
# Reference: a literal, per-element transcription of mmcv 2.1's
# roi_pool_forward_cuda_kernel / roi_pool_backward_cuda_kernel
# (mmcv/ops/csrc/common/cuda/roi_pool_cuda_kernel.cuh) in plain Python.
# fused=True: as nvcc compiles it (--fmad=true: ``a * b + c`` rounded once);
# fused=False: every product and sum rounded, as mmblend's CPU path does.
# ---------------------------------------------------------------------------
def _f32(v):
    """Round a Python float to float32 (correctly rounded, like the GPU)."""
    return struct.unpack('f', struct.pack('f', v))[0]


def _make_arith(dtype, fused):
    rnd = _f32 if dtype == torch.float32 else float  # float64: Python floats

    def fma(a, b, c):
        if fused:  # one rounding of the exact value
            return rnd(float(Fraction(a) * Fraction(b) + Fraction(c)))
        return rnd(rnd(a * b) + c)

    return rnd, fma


def ref_geometry(roi, output_size, spatial_scale, H, W, dtype, fused):
    """``(b, malformed, [[(y1, y2, x1, x2)] * ow] * oh)``: the kernel's
    clipped bin borders of one roi."""
    ph_n, pw_n = output_size
    rnd, fma = _make_arith(dtype, fused)
    s = rnd(_f32(spatial_scale))  # python float -> float -> T
    b = int(roi[0])
    roi_x1 = rnd(roi[1] * s)
    roi_y1 = rnd(roi[2] * s)
    # roi_w = roi_x2 - roi_x1, roi_x2 = (x2 + 1) * s  (contracted)
    roi_w = fma(rnd(roi[3] + 1), s, -roi_x1)
    roi_h = fma(rnd(roi[4] + 1), s, -roi_y1)
    if roi_w <= 0 or roi_h <= 0:
        return b, True, None
    bin_w = rnd(roi_w / pw_n)
    bin_h = rnd(roi_h / ph_n)
    bins = []
    for ph in range(ph_n):
        row = []
        for pw in range(pw_n):
            x1 = math.floor(fma(pw, bin_w, roi_x1))
            y1 = math.floor(fma(ph, bin_h, roi_y1))
            x2 = math.ceil(fma(pw + 1, bin_w, roi_x1))
            y2 = math.ceil(fma(ph + 1, bin_h, roi_y1))
            row.append(
                (
                    min(max(y1, 0), H),
                    min(max(y2, 0), H),
                    min(max(x1, 0), W),
                    min(max(x2, 0), W),
                )
            )
        bins.append(row)
    return b, False, bins


def ref_roi_pool(input, rois, output_size, spatial_scale, fused=True):
    """Returns (output, argmax) exactly as the CUDA kernel computes them
    (``fused=False``: with separately rounded bin borders)."""
    N, C, H, W = input.shape
    ph_n, pw_n = output_size
    data = input.tolist()
    out = torch.zeros((rois.size(0), C, ph_n, pw_n), dtype=input.dtype)
    arg = torch.zeros((rois.size(0), C, ph_n, pw_n), dtype=torch.long)
    for n, roi in enumerate(rois.to(input.dtype).tolist()):
        b, malformed, bins = ref_geometry(
            roi, output_size, spatial_scale, H, W, input.dtype, fused
        )
        if malformed:
            continue  # zero-initialised output and argmax
        for c in range(C):
            for ph in range(ph_n):
                for pw in range(pw_n):
                    y1, y2, x1, x2 = bins[ph][pw]
                    is_empty = y2 <= y1 or x2 <= x1
                    max_val = 0.0 if is_empty else -FLT_MAX
                    max_idx = -1
                    for h in range(y1, y2):
                        for w in range(x1, x2):
                            v = data[b][c][h][w]
                            if v > max_val:
                                max_val = v
                                max_idx = h * W + w
                    out[n, c, ph, pw] = max_val
                    arg[n, c, ph, pw] = max_idx
    return out, arg


def tie_bins(rois, output_size, spatial_scale, H, W, dtype=torch.float32):
    """``[n, oh, ow]`` bool: bins whose borders differ between the fused
    (CUDA) and the separately rounded (CPU) arithmetic: the exact bin-boundary
    ties where the two may pool different elements."""
    ties = torch.zeros((rois.size(0),) + tuple(output_size), dtype=torch.bool)
    for n, roi in enumerate(rois.to(dtype).tolist()):
        fused = ref_geometry(
            roi, output_size, spatial_scale, H, W, dtype, True
        )
        plain = ref_geometry(
            roi, output_size, spatial_scale, H, W, dtype, False
        )
        if fused[1] != plain[1]:
            ties[n] = True
        elif not fused[1]:
            ties[n] = torch.tensor(
                [
                    [f != p for f, p in zip(fr, pr)]
                    for fr, pr in zip(fused[2], plain[2])
                ]
            )
    return ties


def ref_roi_pool_backward(grad_output, rois, argmax, input_shape):
    N, C, H, W = input_shape
    grad = torch.zeros(N, C, H * W, dtype=grad_output.dtype)
    for n in range(argmax.size(0)):
        b = int(rois[n, 0])
        for c in range(C):
            for i, a in enumerate(argmax[n, c].flatten().tolist()):
                if a != -1:
                    grad[b, c, a] += grad_output[n, c].flatten()[i]
    return grad.view(N, C, H, W)


def _random_rois(n, num_imgs, img_h, img_w, gen):
    """Mix of normal, out-of-image, tiny, x.5 and malformed rois."""
    rois = []
    for i in range(n):
        b = float(torch.randint(num_imgs, (1,), generator=gen))
        kind = i % 6
        u = torch.rand(4, generator=gen).tolist()
        if kind == 0:  # ordinary box inside the image
            x1, y1 = u[0] * img_w * 0.7, u[1] * img_h * 0.7
            x2 = x1 + 1 + u[2] * img_w * 0.3
            y2 = y1 + 1 + u[3] * img_h * 0.3
        elif kind == 1:  # partly outside (negative / beyond the border)
            x1, y1 = -0.4 * img_w * u[0], -0.4 * img_h * u[1]
            x2 = img_w * (0.6 + 0.6 * u[2])
            y2 = img_h * (0.6 + 0.6 * u[3])
        elif kind == 2:  # tiny: smaller than one bin
            x1, y1 = u[0] * (img_w - 2), u[1] * (img_h - 2)
            x2, y2 = x1 + u[2] * 0.5, y1 + u[3] * 0.5
        elif kind == 3:  # x.5 coordinates (rounding corner cases)
            x1 = math.floor(u[0] * img_w * 0.6) + 0.5
            y1 = math.floor(u[1] * img_h * 0.6) + 0.5
            x2 = x1 + math.floor(u[2] * img_w * 0.4) + 0.5
            y2 = y1 + math.floor(u[3] * img_h * 0.4) - 0.5
        elif kind == 4:  # integer boxes, fully outside on the left/top
            x1 = -float(math.floor(u[0] * 20)) - 12
            y1 = float(math.floor(u[1] * img_h * 0.5))
            x2 = x1 + float(math.floor(u[2] * 10))
            y2 = y1 + float(math.floor(u[3] * img_h * 0.5))
        else:  # degenerate: x2 == x1 - 1 (zero size) or reversed
            x1, y1 = u[0] * img_w, u[1] * img_h
            x2 = x1 - 1 - 3 * u[2]
            y2 = y1 + 5 * u[3]
        rois.append([b, x1, y1, x2, y2])
    return torch.tensor(rois, dtype=torch.float32)


CASES = [
    # (N, C, H, W, output_size, spatial_scale, n_rois)
    (2, 2, 13, 17, (3, 3), 1.0, 24),
    (2, 2, 16, 20, (7, 7), 0.25, 24),
    (3, 1, 9, 12, (4, 5), 0.125, 24),
    (1, 3, 11, 10, (2, 6), 0.25, 12),
    (2, 1, 20, 24, 8, 0.5, 12),
]


def _case(N, C, H, W, out_size, scale, n_rois):
    gen = torch.Generator().manual_seed(H * 1000 + W)
    x = torch.randn(N, C, H, W, generator=gen)  # distinct values
    rois = _random_rois(n_rois, N, H / scale, W / scale, gen)
    oh_ow = out_size if isinstance(out_size, tuple) else (out_size,) * 2
    return gen, x, rois, oh_ow


@pytest.mark.parametrize('N,C,H,W,out_size,scale,n_rois', CASES)
def test_forward_backward_match_kernel_with_rounded_borders(
    N, C, H, W, out_size, scale, n_rois
):
    gen, x, rois, oh_ow = _case(N, C, H, W, out_size, scale, n_rois)
    x.requires_grad_(True)
    out = roi_pool(x, rois, out_size, scale)
    ref_out, ref_arg = ref_roi_pool(
        x.detach(), rois, oh_ow, scale, fused=False
    )
    assert out.shape == (n_rois, C) + oh_ow
    assert out.dtype == x.dtype
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)

    # integer-valued grads -> sums are exact regardless of order
    g = torch.randint(-5, 6, out.shape, generator=gen).float()
    out.backward(g)
    ref_grad = ref_roi_pool_backward(g, rois, ref_arg, x.shape)
    torch.testing.assert_close(x.grad, ref_grad, rtol=0, atol=0)


def _integer_rois(n, num_imgs, size, gen):
    """Integer corners: where mathematically exact bin borders fall on
    integers, so that rounded bin sizes (8 / 6, ...) create ties."""
    lo = torch.randint(-8, size, (n, 2), generator=gen).float()
    wh = torch.randint(0, size, (n, 2), generator=gen).float()
    b = torch.randint(num_imgs, (n, 1), generator=gen).float()
    return torch.cat([b, lo, lo + wh], 1)


def test_differs_from_cuda_kernel_only_at_counted_ties():
    """Against the fused (nvcc) kernel: equal in every bin except the exact
    bin-boundary ties, which are counted and bounded: none in the random
    rois of CASES; on integer corners with 6 x 6 bins 6 of 2304 bins
    (0.3%), 2 of which pool a different element."""
    for case in CASES:
        _, x, rois, oh_ow = _case(*case)
        out = roi_pool(x, rois, oh_ow, case[5])
        cuda_out, _ = ref_roi_pool(x, rois, oh_ow, case[5], fused=True)
        ties = tie_bins(rois, oh_ow, case[5], *x.shape[-2:])
        assert not ties.any(), case
        torch.testing.assert_close(out, cuda_out, rtol=0, atol=0)

    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 2, 24, 24, generator=gen)
    rois = _integer_rois(64, 2, 24, gen)
    out = roi_pool(x, rois, (6, 6), 1.0)
    cuda_out, _ = ref_roi_pool(x, rois, (6, 6), 1.0, fused=True)
    ties = tie_bins(rois, (6, 6), 1.0, 24, 24)
    differ = (out != cuda_out).any(1)  # [n, oh, ow]
    assert not (differ & ~ties).any()
    n_ties, n_differ = int(ties.sum()), int(differ.sum())
    assert 0 < n_differ <= n_ties <= 0.01 * ties.numel(), (n_differ, n_ties)


def test_tie_example():
    """roi (-3, 0, 4, 0), width 8 in 6 bins: the 3rd bin's right border is
    ceil(fma(3, 8/6, -3)) = ceil(1.00000012) = 2 on CUDA (nvcc fuses the
    multiply-add) but ceil(1.0) = 1 with separate roundings: that bin is
    one column narrower here, and only that bin."""
    x = torch.arange(2 * 6, dtype=torch.float32).view(1, 1, 2, 6)
    x[0, 0, 0, 1] = 100.0
    rois = torch.tensor([[0.0, -3.0, 0.0, 4.0, 0.0]])
    out = roi_pool(x, rois, (1, 6), 1.0)
    cuda_out, _ = ref_roi_pool(x, rois, (1, 6), 1.0, fused=True)
    assert cuda_out[0, 0, 0, 2] == 100.0
    assert out[0, 0, 0, 2] == 0.0  # column 0 only: x[0, 0, 0, 0]
    assert tie_bins(rois, (1, 6), 1.0, 2, 6).flatten().tolist() == [
        False,
        False,
        True,
        False,
        False,
        False,
    ]
    torch.testing.assert_close(
        out, ref_roi_pool(x, rois, (1, 6), 1.0, fused=False)[0], rtol=0, atol=0
    )


def test_ties_nan_inf_and_module():
    """Ties -> first max in row-major order; NaN/-inf never picked."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 12, 14), generator=gen).float()
    x[0, 0, 2:6, 3:9] = float('nan')
    x[0, 1, :, :7] = float('-inf')
    x[1, 2, 4:8, 4:8] = -FLT_MAX
    rois = _random_rois(18, 2, 12 * 4, 14 * 4, gen)
    rois[0] = torch.tensor([0, 8.0, 8.0, 40.0, 28.0])
    rois[1] = torch.tensor([0, 0.0, 0.0, 27.0, 55.0])
    rois[2] = torch.tensor([1, 16.0, 16.0, 31.0, 31.0])
    layer = RoIPool((5, 4), spatial_scale=0.25)
    assert layer.output_size == (5, 4) and layer.spatial_scale == 0.25
    assert 'RoIPool(output_size=(5, 4), spatial_scale=0.25)' == repr(layer)
    x.requires_grad_(True)
    out = layer(x, rois)
    ref_out, ref_arg = ref_roi_pool(
        x.detach(), rois, (5, 4), 0.25, fused=False
    )
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0, equal_nan=True)
    assert not out.isnan().any()
    assert (out[2, 2] == -FLT_MAX).any()  # bin of only -FLT_MAX values
    g = torch.randint(-5, 6, out.shape, generator=gen).float()
    out.backward(g)
    ref_grad = ref_roi_pool_backward(g, rois, ref_arg, x.shape)
    torch.testing.assert_close(x.grad, ref_grad, rtol=0, atol=0)
    # malformed rois (kind 5 of _random_rois): output 0, and the kernel's
    # zero-initialised argmax sends their gradient to element [b, c, 0, 0]
    assert (out[5::6] == 0).all()


def test_float64_matches_reference_and_gradcheck():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 10, 12, generator=gen, dtype=torch.float64)
    rois = _random_rois(12, 2, 40, 48, gen).double()
    rois[0] = torch.tensor([1, -34.0, -24.0, 15.0, 31.0])
    x[1, :, :, 4] = 50.0
    x[1, :, 1, :] = 60.0
    out = roi_pool(x, rois, (6, 3), 0.25)
    ref_out, _ = ref_roi_pool(x, rois, (6, 3), 0.25, fused=False)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    cuda_out, _ = ref_roi_pool(x, rois, (6, 3), 0.25, fused=True)
    ties = tie_bins(rois, (6, 3), 0.25, 10, 12, torch.float64)
    assert not ((out != cuda_out).any(1) & ~ties).any()
    # this roi has a float64 tie: its last x bin ends at
    # ceil(fma(3, 12.5 / 3, -8.5)) = ceil(4.000000000000001) = 5 on CUDA
    assert ties[0, :, 2].all()
    # distinct random values -> max is locally differentiable
    keep = (rois[:, 3] >= rois[:, 1] - 1) & (rois[:, 0] == 0)
    torch.autograd.gradcheck(
        lambda t: roi_pool(t, rois[keep], (6, 3), 0.25),
        (x.clone().requires_grad_(True),),
    )


def test_float16_runs():
    x = torch.randn(1, 2, 8, 8).half()
    rois = torch.tensor([[0.0, 1.5, 2.0, 20.0, 30.0]])
    out = roi_pool(x, rois, 3, 0.25)
    assert out.dtype == torch.float16 and out.shape == (1, 2, 3, 3)
    ref = roi_pool(x.float(), rois, 3, 0.25)
    torch.testing.assert_close(out.float(), ref, rtol=0, atol=0)


def test_empty_rois():
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    rois = torch.zeros((0, 5))
    out = RoIPool((7, 5), 0.5)(x, rois)
    assert out.shape == (0, 4, 7, 5)
    out.sum().backward()
    assert x.grad is not None and not x.grad.any()


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match='rois'):
        roi_pool(torch.zeros(1, 1, 4, 4), torch.zeros(3, 4), 2)


def test_stock_mmcv_roi_pool_has_no_cpu_kernel():
    """Why this module exists: mmcv's RoIPool has no CPU implementation.

    If a future mmcv adds one this test fails; then compare it against
    ours and consider dispatching to it.
    """
    try:
        from mmcv.ops import roi_pool as mmcv_roi_pool
    except ImportError:
        pytest.skip('mmcv.ops not available')
    x = torch.randn(1, 1, 8, 8)
    rois = torch.tensor([[0.0, 0.0, 0.0, 7.0, 7.0]])
    with pytest.raises(Exception, match='(?i)cpu|not found|implement'):
        mmcv_roi_pool(x, rois, (2, 2), 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_cuda_dispatches_to_mmcv_and_matches_cpu_except_ties():
    pytest.importorskip('mmcv.ops')
    from unittest import mock

    import mmcv.ops

    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 40, 60, generator=gen)
    rois = _random_rois(120, 2, 160, 240, gen)
    for out_size, scale in [((7, 7), 0.25), ((14, 9), 0.25), ((28, 28), 0.25)]:
        x_cpu = x.clone().requires_grad_(True)
        x_gpu = x.cuda().requires_grad_(True)
        out_cpu = roi_pool(x_cpu, rois, out_size, scale)
        with mock.patch.object(
            mmcv.ops, 'roi_pool', wraps=mmcv.ops.roi_pool
        ) as spy:
            out_gpu = roi_pool(x_gpu, rois.cuda(), out_size, scale)
        assert spy.called
        ties = tie_bins(rois, out_size, scale, 40, 60)
        assert ties.sum() <= 0.005 * ties.numel()
        same = ~ties[:, None].expand_as(out_cpu)
        torch.testing.assert_close(
            out_gpu.cpu()[same], out_cpu[same], rtol=0, atol=0
        )
        # gradients of the bins that agree
        g = torch.randint(-5, 6, out_cpu.shape, generator=gen).float() * same
        out_cpu.backward(g)
        out_gpu.backward(g.cuda())
        torch.testing.assert_close(
            x_gpu.grad.cpu(), x_cpu.grad, rtol=0, atol=0
        )
