"""Proposed fix for BlendMask's top-layer hot spot, measured.

``BlendMaskHead.top_layer`` is a dense 3x3 conv 256 -> K*M*M = 784 channels
on every FPN level: at 800x1216 that is ~73 GFLOPs per image, about as much
as the whole R-50 backbone, yet only the attentions of the detections kept
(<= 100 after NMS at inference; the FCOS positives in training) are used.
Evaluating the same conv only at those locations (gather the 3x3
neighbourhoods of the tower output, one matmul) gives identical values.

    python benchmarks/attn_sparse.py [--size 800 1216] [--points 100 1000]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def sparse_conv3x3(feats, conv, level, ys, xs):
    """``conv`` (3x3, pad 1) evaluated at ``(level, y, x)`` points only.

    feats: list of ``[C, H_l, W_l]`` maps of one image. Returns ``[n, O]``.
    """
    w = conv.weight.flatten(1)  # [O, C*9], (c, ky, kx) order
    out = feats[0].new_empty((len(ys), w.size(0)))
    for lvl, f in enumerate(feats):
        sel = (level == lvl).nonzero(as_tuple=True)[0]
        if len(sel) == 0:
            continue
        fp = F.pad(f, (1, 1, 1, 1))
        y, x = ys[sel], xs[sel]
        patches = torch.stack([fp[:, y + dy, x + dx] for dy in range(3)
                               for dx in range(3)], dim=2)  # [C, n, 9]
        patches = patches.permute(1, 0, 2).reshape(len(sel), -1)
        out[sel] = torch.addmm(conv.bias, patches, w.t())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, nargs=2, default=[800, 1216])
    ap.add_argument('--points', type=int, nargs='+', default=[100, 1000])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--channels', type=int, default=256)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    H, W = args.size
    C, O = args.channels, 4 * 14 * 14
    conv = torch.nn.Conv2d(C, O, 3, padding=1)
    g = torch.Generator().manual_seed(0)
    sizes = [(-(-H // s), -(-W // s)) for s in (8, 16, 32, 64, 128)]
    feats = [torch.randn(C, h, w, generator=g) for h, w in sizes]
    flops = sum(2 * h * w * C * 9 * O for h, w in sizes)
    res = {}
    with torch.no_grad():
        dense = [conv(f[None])[0] for f in feats]
        for n in args.points:
            level = torch.randint(0, 5, (n, ), generator=g)
            ys = torch.stack([torch.randint(0, sizes[l][0], (1, ),
                                            generator=g)[0] for l in level])
            xs = torch.stack([torch.randint(0, sizes[l][1], (1, ),
                                            generator=g)[0] for l in level])
            sp = sparse_conv3x3(feats, conv, level, ys, xs)
            ref = torch.stack([dense[l][:, y, x]
                               for l, y, x in zip(level, ys, xs)])
            err = (sp - ref).abs().max().item()
            t = common.interleaved(dict(
                dense=lambda: [conv(f[None]) for f in feats],
                sparse=lambda: sparse_conv3x3(feats, conv, level, ys, xs)),
                'cpu', args.repeats, warmup=1)
            res[n] = dict(dense_ms=1e3 * common.median(t['dense']),
                          sparse_ms=1e3 * common.median(t['sparse']),
                          max_abs_err=err)
            print(f"{n} points: dense top layer "
                  f"{res[n]['dense_ms']:.1f} ms ({flops / 1e9:.1f} GFLOPs), "
                  f"sparse {res[n]['sparse_ms']:.2f} ms, speed-up "
                  f"{res[n]['dense_ms'] / res[n]['sparse_ms']:.0f}x, "
                  f"max |diff| {err:.2e}", flush=True)
    return res


if __name__ == '__main__':
    main()
