# Copyright (c) mmblend contributors. All rights reserved.
"""Tests for mmblend.models.layers.roi_pool (CPU RoIPool == mmcv CUDA)."""
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
# ---------------------------------------------------------------------------
def _f32(v):
    """Round a Python float to float32 (correctly rounded, like the GPU)."""
    return struct.unpack('f', struct.pack('f', v))[0]


def _make_arith(dtype):
    if dtype == torch.float32:
        rnd = _f32
    else:
        rnd = float  # float64: Python floats are doubles

    def fma(a, b, c):  # nvcc --fmad=true: one rounding of the exact value
        return rnd(float(Fraction(a) * Fraction(b) + Fraction(c)))

    return rnd, fma


def ref_roi_pool(input, rois, output_size, spatial_scale):
    """Returns (output, argmax) exactly as the CUDA kernel computes them."""
    N, C, H, W = input.shape
    ph_n, pw_n = output_size
    rnd, fma = _make_arith(input.dtype)
    data = input.tolist()
    out = torch.zeros((rois.size(0), C, ph_n, pw_n), dtype=input.dtype)
    arg = torch.zeros((rois.size(0), C, ph_n, pw_n), dtype=torch.long)
    s = rnd(_f32(spatial_scale))  # python float -> float -> T
    for n, roi in enumerate(rois.to(input.dtype).tolist()):
        b = int(roi[0])
        roi_x1 = rnd(roi[1] * s)
        roi_y1 = rnd(roi[2] * s)
        # roi_w = roi_x2 - roi_x1, roi_x2 = (x2 + 1) * s  (contracted)
        roi_w = fma(rnd(roi[3] + 1), s, -roi_x1)
        roi_h = fma(rnd(roi[4] + 1), s, -roi_y1)
        for c in range(C):
            for ph in range(ph_n):
                for pw in range(pw_n):
                    if roi_w <= 0 or roi_h <= 0:
                        continue  # zero-initialised output and argmax
                    bin_w = rnd(roi_w / pw_n)
                    bin_h = rnd(roi_h / ph_n)
                    x1 = math.floor(fma(pw, bin_w, roi_x1))
                    y1 = math.floor(fma(ph, bin_h, roi_y1))
                    x2 = math.ceil(fma(pw + 1, bin_w, roi_x1))
                    y2 = math.ceil(fma(ph + 1, bin_h, roi_y1))
                    x1 = min(max(x1, 0), W)
                    y1 = min(max(y1, 0), H)
                    x2 = min(max(x2, 0), W)
                    y2 = min(max(y2, 0), H)
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
        b = float(torch.randint(num_imgs, (1, ), generator=gen))
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


@pytest.mark.parametrize('N,C,H,W,out_size,scale,n_rois', CASES)
def test_forward_backward_match_reference(N, C, H, W, out_size, scale, n_rois):
    gen = torch.Generator().manual_seed(H * 1000 + W)
    x = torch.randn(N, C, H, W, generator=gen)  # distinct values
    img_h, img_w = H / scale, W / scale
    rois = _random_rois(n_rois, N, img_h, img_w, gen)
    oh_ow = out_size if isinstance(out_size, tuple) else (out_size, ) * 2

    x.requires_grad_(True)
    out = roi_pool(x, rois, out_size, scale)
    ref_out, ref_arg = ref_roi_pool(x.detach(), rois, oh_ow, scale)
    assert out.shape == (n_rois, C) + oh_ow
    assert out.dtype == x.dtype
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)

    # integer-valued grads -> sums are exact regardless of order
    g = torch.randint(-5, 6, out.shape, generator=gen).float()
    out.backward(g)
    ref_grad = ref_roi_pool_backward(g, rois, ref_arg, x.shape)
    torch.testing.assert_close(x.grad, ref_grad, rtol=0, atol=0)


def test_ties_nan_inf_and_module():
    """Ties -> first max in row-major order; NaN/-inf never picked."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 12, 14), generator=gen).float()
    x[0, 0, 2:6, 3:9] = float('nan')
    x[0, 1, :, :7] = float('-inf')
    x[1, 2, 4:8, 4:8] = -FLT_MAX
    rois = _random_rois(18, 2, 12 * 4, 14 * 4, gen)
    rois[0] = torch.tensor([0, 8., 8., 40., 28.])
    rois[1] = torch.tensor([0, 0., 0., 27., 55.])
    rois[2] = torch.tensor([1, 16., 16., 31., 31.])
    layer = RoIPool((5, 4), spatial_scale=0.25)
    assert layer.output_size == (5, 4) and layer.spatial_scale == 0.25
    assert 'RoIPool(output_size=(5, 4), spatial_scale=0.25)' == repr(layer)
    x.requires_grad_(True)
    out = layer(x, rois)
    ref_out, ref_arg = ref_roi_pool(x.detach(), rois, (5, 4), 0.25)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0, equal_nan=True)
    assert not out.isnan().any()
    assert (out[2, 2] == -FLT_MAX).any()  # bin of only -FLT_MAX values
    g = torch.randint(-5, 6, out.shape, generator=gen).float()
    out.backward(g)
    ref_grad = ref_roi_pool_backward(g, rois, ref_arg, x.shape)
    torch.testing.assert_close(x.grad, ref_grad, rtol=0, atol=0)


def test_fma_bin_borders():
    """roi (-3, 0, 4, 0), width 8 in 6 bins: the 3rd bin's right border is
    ceil(fma(3, 8/6, -3)) = ceil(1.00000012) = 2 (nvcc fuses the
    multiply-add; separately rounded it would be ceil(1.0) = 1)."""
    x = torch.arange(2 * 6, dtype=torch.float32).view(1, 1, 2, 6)
    x[0, 0, 0, 1] = 100.
    rois = torch.tensor([[0., -3., 0., 4., 0.]])
    out = roi_pool(x, rois, (1, 6), 1.0)
    ref_out, _ = ref_roi_pool(x, rois, (1, 6), 1.0)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    assert out[0, 0, 0, 2] == 100.


def test_float64_matches_reference_and_gradcheck():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 10, 12, generator=gen, dtype=torch.float64)
    rois = _random_rois(12, 2, 40, 48, gen).double()
    # fma-sensitive: last x bin ends at ceil(fma(3, 12.5 / 3, -8.5)) =
    # ceil(4.000000000000001) = 5 (unfused: 4); y bin 2/3 border likewise
    rois[0] = torch.tensor([1, -34., -24., 15., 31.])
    x[1, :, :, 4] = 50.
    x[1, :, 1, :] = 60.
    out = roi_pool(x, rois, (6, 3), 0.25)
    ref_out, _ = ref_roi_pool(x, rois, (6, 3), 0.25)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    assert (out[0, :, 2:, 2] >= 50).all()  # rows 0-1 lie above the map
    # distinct random values -> max is locally differentiable
    keep = (rois[:, 3] >= rois[:, 1] - 1) & (rois[:, 0] == 0)
    torch.autograd.gradcheck(lambda t: roi_pool(t, rois[keep], (6, 3), 0.25),
                             (x.clone().requires_grad_(True), ))


def test_float16_runs():
    x = torch.randn(1, 2, 8, 8).half()
    rois = torch.tensor([[0., 1.5, 2., 20., 30.]])
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


def test_large_case_consistent_with_chunking(monkeypatch):
    """Channel chunking (small memory budget) gives identical results."""
    import mmblend.models.layers.roi_pool as rp
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 5, 25, 38, generator=gen)
    rois = _random_rois(60, 2, 100, 152, gen)
    x.requires_grad_(True)
    full = roi_pool(x, rois, (14, 14), 0.25)
    g = torch.randn(full.shape, generator=gen)
    grad_full, = torch.autograd.grad(full, x, g)
    # chunks of 1, 2 (+ partial 1) and 3 (+ partial 2) channels (60 rois,
    # 14x14: ~80k elements per channel)
    for budget in (1, 250_000, 330_000):
        monkeypatch.setattr(rp, '_CHUNK_ELEMS', budget)
        chunked = roi_pool(x, rois, (14, 14), 0.25)
        torch.testing.assert_close(full, chunked, rtol=0, atol=0)
        grad, = torch.autograd.grad(chunked, x, g)
        torch.testing.assert_close(grad_full, grad, rtol=0, atol=0)


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
    rois = torch.tensor([[0., 0., 0., 7., 7.]])
    with pytest.raises(Exception, match='(?i)cpu|not found|implement'):
        mmcv_roi_pool(x, rois, (2, 2), 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='requires CUDA')
def test_cuda_dispatches_to_mmcv_and_matches_cpu():
    pytest.importorskip('mmcv.ops')
    from unittest import mock

    import mmcv.ops
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 40, 60, generator=gen)
    rois = _random_rois(120, 2, 160, 240, gen)
    for out_size, scale in [((7, 7), 0.25), ((14, 9), 0.25), (28, 0.25)]:
        x_cpu = x.clone().requires_grad_(True)
        x_gpu = x.cuda().requires_grad_(True)
        out_cpu = roi_pool(x_cpu, rois, out_size, scale)
        with mock.patch.object(mmcv.ops, 'roi_pool',
                               wraps=mmcv.ops.roi_pool) as spy:
            out_gpu = roi_pool(x_gpu, rois.cuda(), out_size, scale)
        assert spy.called
        torch.testing.assert_close(out_gpu.cpu(), out_cpu, rtol=0, atol=0)
        g = torch.randint(-5, 6, out_cpu.shape, generator=gen).float()
        out_cpu.backward(g)
        out_gpu.backward(g.cuda())
        torch.testing.assert_close(x_gpu.grad.cpu(),
                                   x_cpu.grad,
                                   rtol=0,
                                   atol=0)
