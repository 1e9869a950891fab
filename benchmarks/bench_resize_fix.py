"""Before/after of BlendMask's resizes as two matmuls
(``mmblend.models.layers.resize``) instead of ``F.interpolate``.

The resizes are the blender's top interpolation (M x M -> R x R per
instance) and the bottom modules' upsamplings (DeepLabV3+'s stride 32 -> 8,
Proto-FPN's level sums and x2). Same model and weights, interleaved in one
process (``F.interpolate`` patched back in for "before"):

* ``heads``: one training step of the heads only (bbox + mask losses and
  backward from fixed FPN features), where the change acts;
* ``iteration``: a whole training iteration (forward with losses + backward);
* ``blender``: the blender alone (forward) at 100 detections;
* ``resizes``: the final model's two resizes alone (forward + backward) at
  the training step's shapes.

Losses and basis-module gradients of the two paths are compared.

    python benchmarks/bench_resize_fix.py --threads 1 --repeats 11
"""
import os
import os.path as osp
import sys
from contextlib import nullcontext

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
import peers  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# modules that import ``resize`` (patched for the "before" path)
PATCHED = ('mmblend.models.layers.blender',
           'mmblend.models.necks.deeplabv3plus_basis',
           'mmblend.models.necks.protonet_basis')


LABELS = {'blender': 'Blender 56_4_14 alone, 100 detections (forward)',
          'resizes': 'the two resizes alone, training shapes (fwd + bwd)'}


def interpolate_resize(x, size, mode='bilinear'):
    """The "before" path: ``F.interpolate``."""
    kw = dict(align_corners=False) if mode == 'bilinear' else {}
    return F.interpolate(x, tuple(size), mode=mode, **kw)


class use_interpolate:
    """Context: mmblend's resizes go through ``F.interpolate``."""

    def __enter__(self):
        self.saved = {m: sys.modules[m].resize for m in PATCHED}
        for m in PATCHED:
            sys.modules[m].resize = interpolate_resize

    def __exit__(self, *exc):
        for m, f in self.saved.items():
            sys.modules[m].resize = f


def steps(name, size, device):
    """``{part: fn() -> (losses, basis grad)}`` of one model."""
    cfg = peers.load_cfg(name, 0)
    model = common.build_model(cfg, device).train()
    inputs, samples = common.fake_batch(model, 2, *size, device,
                                        with_gt=True, num_gt=5)
    with torch.no_grad():
        feats = [f.detach() for f in model.extract_feat(inputs)]
    basis_w = model.mask_head.basis.bases.weight

    def backward(losses):
        model.zero_grad()
        model.parse_losses(losses)[0].backward()
        return ({k: float(v.detach()) for k, v in losses.items()},
                basis_w.grad.clone())

    def heads():
        losses = model.bbox_head.loss(feats, samples)
        losses.update(model.mask_head.loss(
            feats, samples,
            positive_infos=model.bbox_head.get_positive_infos()))
        return backward(losses)

    def iteration():
        return backward(model(inputs, samples, mode='loss'))

    return dict(heads=heads, iteration=iteration)


def blender_step(device, dets=100):
    """The blender alone (forward), 100 detections on 100x152 bases."""
    from mmblend.models import Blender
    blender = Blender().to(device)
    g = torch.Generator().manual_seed(0)
    bases = torch.randn(1, 4, 100, 152, generator=g).to(device)
    attns = torch.randn(dets, 4 * 14 * 14, generator=g).to(device)
    xy = torch.rand(dets, 2, generator=g) * 600
    wh = torch.rand(dets, 2, generator=g) * 400 + 16
    rois = torch.cat([torch.zeros(dets, 1), xy, xy + wh], 1).to(device)

    def run():
        with torch.no_grad():
            return {'mask_logit_sum': float(blender(bases, attns, rois).sum())
                    }, None
    return run


def resize_ops_step(device, size):
    """The final model's two resizes alone, forward + backward, at the
    training step's shapes: 108 positives' attentions 14x14 -> 56x56 and
    the ASPP output stride 32 -> stride 8 (batch 2, 256 channels)."""
    from mmblend.models.layers import blender
    g = torch.Generator().manual_seed(0)
    h, w = size[0] // 32, size[1] // 32
    attns = torch.randn(108, 4, 14, 14, generator=g).to(device)
    aspp = torch.randn(2, 256, h, w, generator=g).to(device)
    attns.requires_grad_()
    aspp.requires_grad_()

    def run():
        # looked up at call time, so the "before" patch applies
        out = (blender.resize(attns, (56, 56)).square().mean() +
               blender.resize(aspp, (4 * h, 4 * w)).square().mean())
        grads = torch.autograd.grad(out, (attns, aspp))
        return {'mean_square': float(out)}, grads[1]
    return run


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[320, 320])
    ap.add_argument('--repeats', type=int, default=9)
    ap.add_argument('--models', nargs='+',
                    default=['blendmask', 'blendmask_rt'])
    args = common.parse_args(ap, argv)
    if args.quick:
        args.size, args.repeats, args.models = [96, 96], 1, ['blendmask']
    common.setup()
    info = common.machine_info(args.device)
    fns = {}
    for name in args.models:
        for part, fn in steps(name, args.size, args.device).items():
            fns[(name, part)] = fn
    fns[('blender', 'blender')] = blender_step(args.device)
    fns[('resizes', 'resizes')] = resize_ops_step(args.device, args.size)
    timed, outputs = {}, {}
    for key, fn in fns.items():
        for path in ('before', 'after'):
            def run(fn=fn, path=path, key=key):
                ctx = use_interpolate if path == 'before' else nullcontext
                with ctx():
                    outputs[key + (path, )] = fn()
            timed[key + (path, )] = run
    times = common.interleaved(timed, args.device, args.repeats, warmup=1)
    rows, results = [], {}
    for key in fns:
        tb, ta = times[key + ('before', )], times[key + ('after', )]
        before, after = common.median(tb) * 1e3, common.median(ta) * 1e3
        # the minimum: this machine's noise only ever adds time
        min_b, min_a = min(tb) * 1e3, min(ta) * 1e3
        (loss_b, grad_b), (loss_a, grad_a) = (outputs[key + ('before', )],
                                              outputs[key + ('after', )])
        loss_diff = max(abs(loss_a[k] - loss_b[k]) for k in loss_b)
        grad_diff = float('nan') if grad_b is None else float(
            (grad_a - grad_b).abs().max() / grad_b.abs().max())
        label = LABELS.get(key[0]) or f'{peers.LABELS[key[0]]}: {key[1]}'
        rows.append([label, before, after, after / before, min_b, min_a,
                     min_a / min_b, loss_diff, grad_diff])
        results['/'.join(key)] = dict(
            before_ms=before, after_ms=after, ratio=after / before,
            before_min_ms=min_b, after_min_ms=min_a, min_ratio=min_a / min_b,
            max_loss_diff=loss_diff, basis_grad_rel_diff=grad_diff)
        print(rows[-1], flush=True)
    name = 'resize_fix' + ('_quick' if args.quick else '')
    os.makedirs(args.out, exist_ok=True)
    p = common.plt()
    fig, ax = p.subplots(figsize=(7, 3))
    ys = range(len(rows))
    ax.barh([y - 0.2 for y in ys], [r[3] for r in rows], 0.4, label='median')
    ax.barh([y + 0.2 for y in ys], [r[6] for r in rows], 0.4, label='min')
    ax.set_yticks(list(ys), [r[0] for r in rows])
    ax.axvline(1.0, color='k', lw=0.8)
    ax.invert_yaxis()
    ax.legend()
    ax.set_xlabel('after / before (time)')
    fig.tight_layout()
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    common.finish_info(info)
    common.write_results(
        args.out, name, info,
        {'Resize as matmuls: before/after': dict(
            columns=['step', 'before ms (F.interpolate, median)',
                     'after ms (matmuls, median)', 'after / before',
                     'before min ms', 'after min ms', 'min after / before',
                     'max abs loss diff', 'basis grad max rel diff'],
            rows=rows)},
        dict(results=results, seconds={'/'.join(k): v
                                       for k, v in times.items()}),
        [f'batch 2 random {args.size[0]}x{args.size[1]} images, 5 random '
         f'rectangle GT each; torch threads {torch.get_num_threads()}; '
         f'{args.repeats} rounds after 1 warm-up, round-robin; same weights '
         'for before and after.'])


if __name__ == '__main__':
    main()
