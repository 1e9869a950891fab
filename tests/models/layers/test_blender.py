"""Blender vs. a direct, per-element computation of paper §3.2."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmblend.models import Blender


def bilinear(feat, y, x):
    """mmcv's RoIAlign bilinear sample of ``feat [C, H, W]`` at (y, x)."""
    H, W = feat.shape[-2:]
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return feat.new_zeros(feat.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    return (
        hy * hx * feat[:, y0, x0]
        + hy * lx * feat[:, y0, x1]
        + ly * hx * feat[:, y1, x0]
        + ly * lx * feat[:, y1, x1]
    )


def ref_roi_align(bases, roi, R, scale):
    """aligned=True, sampling_ratio=1: one sample at each bin centre."""
    b = int(roi[0])
    x1, y1, x2, y2 = [float(v) * scale - 0.5 for v in roi[1:]]
    bw, bh = (x2 - x1) / R, (y2 - y1) / R
    out = bases.new_zeros(bases.shape[1], R, R)
    for i in range(R):
        for j in range(R):
            out[:, i, j] = bilinear(
                bases[b], y1 + (i + 0.5) * bh, x1 + (j + 0.5) * bw
            )
    return out


def ref_roi_pool(bases, roi, R, scale):
    """mmcv 2.1's CUDA RoIPool formula, literally (fractional roi corners,
    floor/ceil bin borders, empty bin -> 0)."""
    b = int(roi[0])
    H, W = bases.shape[-2:]
    x1, y1 = float(roi[1]) * scale, float(roi[2]) * scale
    rw = (float(roi[3]) + 1) * scale - x1
    rh = (float(roi[4]) + 1) * scale - y1
    out = bases.new_zeros(bases.shape[1], R, R)
    for i in range(R):
        for j in range(R):
            h0 = min(max(math.floor(i * rh / R + y1), 0), H)
            h1 = min(max(math.ceil((i + 1) * rh / R + y1), 0), H)
            w0 = min(max(math.floor(j * rw / R + x1), 0), W)
            w1 = min(max(math.ceil((j + 1) * rw / R + x1), 0), W)
            if h1 > h0 and w1 > w0:
                out[:, i, j] = bases[b, :, h0:h1, w0:w1].amax(dim=(1, 2))
    return out


def ref_blend(bases, attns, rois, K, M, R, stride, pooler, interp):
    outs = []
    for n in range(rois.shape[0]):
        pool = ref_roi_align if pooler == 'RoIAlign' else ref_roi_pool
        crop = pool(bases, rois[n], R, 1.0 / stride)
        a = attns[n].view(1, K, M, M)
        if interp == 'bilinear':
            a = F.interpolate(a, (R, R), mode='bilinear', align_corners=False)
        else:
            a = F.interpolate(a, (R, R), mode='nearest')
        a = a[0]
        if K == 1:  # the probability's logit, clamped at 1e-6
            p = (crop[0].sigmoid() * a[0].sigmoid()).clamp(1e-6, 1 - 1e-6)
            outs.append((p / (1 - p)).log())
        else:
            w = a.exp() / a.exp().sum(0, keepdim=True)
            outs.append((crop * w).sum(0))
    return torch.stack(outs)


def make_inputs(K, M, n, stride=8, B=2, H=64, W=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    bases = torch.randn(B, K, H // stride, W // stride, generator=g)
    attns = torch.randn(n, K * M * M, generator=g)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([W * 0.8, H * 0.8])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([W * 0.6, H * 0.6]) + 2
    rois = torch.cat(
        [torch.randint(0, B, (n, 1), generator=g).float(), xy, xy + wh], dim=1
    )
    rois[0, 1:] = torch.tensor([-10.0, -6.0, W + 5.0, H + 3.0])  # outside
    return bases, attns, rois


@pytest.mark.parametrize('pooler', ['RoIAlign', 'RoIPool'])
@pytest.mark.parametrize('interp', ['bilinear', 'nearest'])
@pytest.mark.parametrize('K,M,R', [(4, 4, 8), (2, 3, 7), (1, 2, 6), (4, 1, 5)])
def test_blender_matches_direct_computation(pooler, interp, K, M, R):
    bases, attns, rois = make_inputs(K, M, n=5)
    blender = Blender(
        num_bases=K,
        attn_size=M,
        bottom_resolution=R,
        bases_stride=8,
        pooler=pooler,
        top_interp=interp,
    )
    out = blender(bases, attns, rois)
    ref = ref_blend(bases, attns, rois, K, M, R, 8, pooler, interp)
    assert out.shape == (5, R, R)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_one_basis_logits_are_finite_with_their_gradients():
    """K = 1: the logit of sigmoid(crop) * sigmoid(attn), clamped where the
    probability leaves [1e-6, 1 - 1e-6] (no gradient there, as BCE on the
    clamped probability), finite for saturated inputs."""
    blender = Blender(num_bases=1, attn_size=1, bottom_resolution=2)
    crops = (
        torch.tensor([-200.0, -3.0, 2.0, 200.0])
        .view(4, 1, 1, 1)
        .expand(4, 1, 2, 2)
        .clone()
        .requires_grad_()
    )
    attns = torch.tensor([[0.0], [1.0], [-1.0], [200.0]], requires_grad=True)
    logits = blender.merge(crops, attns)
    p = torch.sigmoid(torch.tensor([-3.0, 2.0])) * torch.sigmoid(
        torch.tensor([1.0, -1.0])
    )
    torch.testing.assert_close(logits[1:3, 0, 0], torch.logit(p))
    assert logits[0, 0, 0] == torch.logit(torch.tensor(1e-6))
    assert logits[3, 0, 0] == torch.logit(torch.tensor(1 - 1e-6))
    logits.sum().backward()
    assert (
        torch.isfinite(crops.grad).all() and torch.isfinite(attns.grad).all()
    )
    assert crops.grad[0].abs().sum() == crops.grad[3].abs().sum() == 0


def test_stride_four():
    bases, attns, rois = make_inputs(4, 4, n=3, stride=4)
    blender = Blender(4, 4, 8, bases_stride=4)
    ref = ref_blend(bases, attns, rois, 4, 4, 8, 4, 'RoIAlign', 'bilinear')
    torch.testing.assert_close(
        blender(bases, attns, rois), ref, rtol=1e-5, atol=1e-5
    )


def test_empty_rois():
    blender = Blender()
    bases = torch.randn(1, 4, 10, 10, requires_grad=True)
    out = blender(bases, torch.zeros(0, 4 * 14 * 14), torch.zeros(0, 5))
    assert out.shape == (0, 56, 56)
    out.sum().backward()  # an empty batch still back-propagates


def test_gradients_reach_bases_and_attentions():
    bases, attns, rois = make_inputs(4, 4, n=4)
    bases.requires_grad_()
    attns.requires_grad_()
    Blender(4, 4, 8)(bases, attns, rois).sum().backward()
    assert bases.grad.abs().sum() > 0 and attns.grad.abs().sum() > 0


def test_assembler_tiles():
    """Tile (i, j) of the crop comes from basis i*g+j; no attention."""
    g, R = 2, 8
    bases = torch.arange(4.0).view(1, 4, 1, 1).expand(1, 4, 16, 16).clone()
    blender = Blender(
        num_bases=g * g, bottom_resolution=R, bases_stride=8, merge='assembler'
    )
    assert blender.attn_channels == 0
    rois = torch.tensor([[0.0, 8.0, 8.0, 100.0, 100.0]])
    out = blender(bases, torch.zeros(1, 0), rois)[0]
    t = R // g
    for i in range(g):
        for j in range(g):
            assert (
                out[i * t : (i + 1) * t, j * t : (j + 1) * t] == i * g + j
            ).all()


def test_assembler_matches_crop_tiles():
    bases, _, rois = make_inputs(9, 1, n=3)
    blender = Blender(num_bases=9, bottom_resolution=9, merge='assembler')
    out = blender(bases, torch.zeros(3, 0), rois)
    crops = torch.stack([ref_roi_align(bases, r, 9, 1 / 8) for r in rois])
    for i in range(3):
        for j in range(3):
            torch.testing.assert_close(
                out[:, 3 * i : 3 * i + 3, 3 * j : 3 * j + 3],
                crops[:, 3 * i + j, 3 * i : 3 * i + 3, 3 * j : 3 * j + 3],
            )


def test_bad_arguments():
    with pytest.raises(ValueError, match='assembler'):
        Blender(num_bases=4, bottom_resolution=55, merge='assembler')
    with pytest.raises(ValueError, match='pooler'):
        Blender(pooler='RoIWarp')
    with pytest.raises(ValueError, match='K\\*M\\*M'):
        Blender(4, 4, 8)(
            torch.randn(1, 4, 8, 8), torch.randn(2, 63), torch.zeros(2, 5)
        )
    with pytest.raises(ValueError, match='bases must be'):
        Blender(4, 4, 8)(
            torch.randn(1, 3, 8, 8), torch.randn(2, 64), torch.zeros(2, 5)
        )


@pytest.mark.parametrize('pooler', ['RoIAlign', 'RoIPool'])
def test_non_finite_boxes_are_refused(pooler):
    """A diverged detector's NaN / inf boxes get an error naming them, not
    mmcv's kernel indexing outside the bases (a segmentation fault)."""
    bases, attns, rois = make_inputs(4, 4, n=3)
    blender = Blender(4, 4, 8, pooler=pooler)
    for value in (float('nan'), float('inf')):
        bad = rois.clone()
        bad[1, 3] = value
        with pytest.raises(ValueError, match='1 of 3 boxes .* not finite'):
            blender(bases, attns, bad)
