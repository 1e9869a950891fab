"""Proposed faster CPU mask pasting, checked against mmblend's
``paste_masks`` (per-box ``grid_sample`` via mmdet's ``_do_paste_mask``).

``grid_sample`` (bilinear, zeros padding, align_corners=False) of a
box-relative mask on the axis-aligned pixel grid of its box is separable:
``paste = Wy @ P @ Wx^T`` with ``Wy [h', R]`` / ``Wx [w', R]`` the 1-D
linear-interpolation weights (out-of-range taps dropped = zero padding).
Two small matmuls per box instead of building a ``[h', w', 2]`` grid and
sampling it.

    python benchmarks/paste_variants.py [--dets 100] [--size 800 1216]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
import torch  # noqa: E402


def _interp_weights(lo: int, hi: int, b0,
                    b1, R: int) -> torch.Tensor:
    """``[hi - lo, R]`` weights of 1-D bilinear sampling (align_corners=
    False, zero padding) of an R-sample signal spanning ``[b0, b1]``
    at pixel centres ``lo + 0.5 .. hi - 0.5``."""
    x = torch.arange(lo, hi, dtype=torch.float32) + 0.5
    size = (b1 - b0)
    # normalised coordinate as grid_sample sees it, then unnormalised
    g = (x - b0) / size * 2 - 1
    g = torch.where(torch.isinf(g), torch.zeros_like(g), g)
    u = ((g + 1) * R - 1) / 2
    i0 = torch.floor(u)
    f = u - i0
    i0 = i0.long()
    W = torch.zeros(len(x), R + 2)
    # shift by one so index -1 and R land in the padding columns
    W.scatter_add_(1, (i0 + 1).clamp(0, R + 1)[:, None], (1 - f)[:, None])
    W.scatter_add_(1, (i0 + 2).clamp(0, R + 1)[:, None], f[:, None])
    return W[:, 1:R + 1]


def paste_masks_separable(probs: torch.Tensor, boxes: torch.Tensor,
                          img_h: int, img_w: int,
                          threshold: float = 0.5) -> torch.Tensor:
    """Drop-in for ``paste_masks`` on CPU: same region per box as
    ``_do_paste_mask(skip_empty=True)`` (box +-1 px, clipped)."""
    D, R = probs.size(0), probs.size(-1)
    masks = torch.zeros((D, img_h, img_w), dtype=torch.bool)
    if D == 0:
        return masks
    b = boxes.float()
    x0i = (b[:, 0].floor() - 1).clamp(min=0).int().tolist()
    y0i = (b[:, 1].floor() - 1).clamp(min=0).int().tolist()
    x1i = (b[:, 2].ceil() + 1).clamp(max=img_w).int().tolist()
    y1i = (b[:, 3].ceil() + 1).clamp(max=img_h).int().tolist()
    probs = probs.float()
    for i in range(D):
        if x1i[i] <= x0i[i] or y1i[i] <= y0i[i]:
            continue
        wy = _interp_weights(y0i[i], y1i[i], b[i, 1], b[i, 3], R)
        wx = _interp_weights(x0i[i], x1i[i], b[i, 0], b[i, 2], R)
        masks[i, y0i[i]:y1i[i], x0i[i]:x1i[i]] = \
            (wy @ probs[i] @ wx.T) >= threshold
    return masks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dets', type=int, default=100)
    ap.add_argument('--size', type=int, nargs=2, default=[800, 1216])
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--threads', type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    common.setup()
    from bench_blender import random_boxes
    from mmblend.models.dense_heads.blendmask_mask_head import paste_masks
    H, W = args.size
    g = torch.Generator().manual_seed(0)
    boxes = random_boxes(args.dets, H, W, g)
    # smooth-ish probabilities (a blob per box) so the threshold matters
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 56), torch.linspace(-1, 1, 56),
                            indexing='ij')
    blob = torch.exp(-(xx**2 + yy**2) * 2)
    probs = (blob[None] + 0.3 * torch.rand(args.dets, 56, 56, generator=g)
             ).clamp(0, 1)
    ref = paste_masks(probs, boxes, H, W, 0.5)
    new = paste_masks_separable(probs, boxes, H, W, 0.5)
    diff = (ref != new).sum().item()
    tot = ref.sum().item()
    t = common.interleaved(
        dict(current=lambda: paste_masks(probs, boxes, H, W, 0.5),
             separable=lambda: paste_masks_separable(probs, boxes, H, W,
                                                     0.5)),
        'cpu', args.repeats, warmup=1)
    cur, sep = common.median(t['current']), common.median(t['separable'])
    print(f'{args.dets} dets at {H}x{W}: current {cur*1e3:.1f} ms, '
          f'separable {sep*1e3:.1f} ms, speed-up {cur/sep:.2f}x; '
          f'differing pixels {diff} of {tot} foreground '
          f'({diff / max(tot, 1):.2e})')
    return dict(current_ms=cur * 1e3, separable_ms=sep * 1e3,
                speedup=cur / sep, diff_pixels=diff, fg_pixels=tot)


if __name__ == '__main__':
    main()
