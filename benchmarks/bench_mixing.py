"""BlendMask's mask branch as an add-on to mmdet's one-stage detectors:
inference of each mixing config (``configs/mixing/blendmask-<host>_*``) vs
mmdet's own host config (ATSS, GFL, RetinaNet, FCOS; R-50 FPN 1x), with the
same weights for everything they share.

Both models of a host are built from their configs with random init
(backbone ``init_cfg=None``); the host's state_dict is then loaded into the
mixed model non-strictly, and every host key must match (the only keys left
over are the mixed model's top layer and mask head). Detections are forced
as in ``bench_inference.py`` (score_thr=0, NMS IoU 1.0, nms_pre>=1000,
max_per_img=100: exactly 100 per image, recorded as ``dets``). Latency =
``model(inputs, samples, mode='predict')`` on one preprocessed random image,
each host and its mixed model timed back to back in every round (order
swapped per round, hosts rotated: ``pair_rounds``); ratios mixed / host
by three estimators (ratio of medians, of minima, median per-round ratio)
next to the FLOP ratio (``torch.utils.flop_counter``, one inference).
Target (issue 13 §5, the paper's "almost free add-on"): <= 1.15.

    python benchmarks/bench_mixing.py --threads 1 [--size 800 1216] \
        [--repeats 5] [--hosts atss gfl retinanet fcos]
"""
import os
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402

# host -> (mmdet's config, our mixing config inheriting it)
HOSTS = {
    'atss': ('atss/atss_r50_fpn_1x_coco.py',
             'configs/mixing/blendmask-atss_r50_fpn_1x_coco.py'),
    'gfl': ('gfl/gfl_r50_fpn_1x_coco.py',
            'configs/mixing/blendmask-gfl_r50_fpn_1x_coco.py'),
    'retinanet': ('retinanet/retinanet_r50_fpn_1x_coco.py',
                  'configs/mixing/blendmask-retinanet_r50_fpn_1x_coco.py'),
    'fcos': ('fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
             'configs/mixing/blendmask-fcos_r50-caffe_fpn_gn-head_1x_coco.py'),
}
LABELS = {'atss': 'ATSS', 'gfl': 'GFL', 'retinanet': 'RetinaNet',
          'fcos': 'FCOS (mmdet, caffe R-50)'}
TARGET = 1.15
TABLE = 'Mixed (host + BlendMask mask branch) vs host, inference'
STAGE_TABLE = ('Mixed {} per stage (ms, mean of sequential calls; basis, '
               'blender, paste and the top layer in post-process are the '
               'add-on)')
#: the only keys of a mixed model that its host lacks
EXTRA_PREFIXES = ('mask_head.', 'bbox_head.top_layer.')


def load_cfg(path: str, num_dets: int = 100):
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    common.strip_init(cfg.model)
    common.force_dets(cfg.model, num_dets)
    return cfg


def build_pair(host: str, device: str, num_dets: int = 100):
    """(host model, mixed model) in eval mode, the mixed one carrying the
    host's weights; raises if a host key is missing from the mixed model or
    has another shape."""
    host_rel, mix_rel = HOSTS[host]
    hcfg = load_cfg(common.mim_config(host_rel), num_dets)
    mcfg = load_cfg(common.repo_config(mix_rel), num_dets)
    if mcfg.model.bbox_head.type != 'Blend' + hcfg.model.bbox_head.type:
        raise ValueError(f'{mix_rel}: bbox_head {mcfg.model.bbox_head.type} '
                         f'is not Blend + {hcfg.model.bbox_head.type}')
    for key in ('backbone', 'neck', 'data_preprocessor'):
        h, m = dict(hcfg.model[key]), dict(mcfg.model[key])
        m.pop('pad_mask', None)
        h.pop('pad_mask', None)
        if h != m:
            raise ValueError(f'{mix_rel}: {key} differs from {host_rel}')
    hmodel = common.build_model(hcfg, device).eval()
    mmodel = common.build_model(mcfg, device).eval()
    hsd = hmodel.state_dict()
    msd = mmodel.state_dict()
    bad = [k for k in hsd if k not in msd or msd[k].shape != hsd[k].shape]
    if bad:
        raise RuntimeError(f'{host}: host keys not in the mixed model: '
                           f'{bad[:10]}')
    res = mmodel.load_state_dict(hsd, strict=False)
    assert not res.unexpected_keys, res.unexpected_keys
    left = [k for k in res.missing_keys if not k.startswith(EXTRA_PREFIXES)]
    if left:
        raise RuntimeError(f'{host}: mixed keys not loaded: {left[:10]}')
    for k, v in hsd.items():  # the shared weights really are the host's
        assert torch.equal(mmodel.state_dict()[k], v), k
    return hmodel, mmodel, dict(shared_keys=len(hsd),
                                extra_keys=len(res.missing_keys))


def make_runner(model, h, w, device):
    inputs, samples = common.fake_batch(model, 1, h, w, device)

    def run():
        with torch.no_grad():
            return model(inputs, samples, mode='predict')
    return run


def pair_rounds(runners, hosts, device, repeats, warmup=1):
    """Round-robin timing in adjacent pairs: each round times every host
    and its mixed model back to back (order swapped every round, hosts
    rotated), so a load change between the two calls of a pair is as
    short as one call. Returns per-round seconds per model."""
    names = [n for h in hosts for n in (h, f'blend_{h}')]
    for _ in range(warmup):
        for n in names:
            runners[n]()
    times = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(hosts)
        for host in hosts[k:] + hosts[:k]:
            pair = [host, f'blend_{host}'][::1 if r % 2 == 0 else -1]
            for n in pair:
                times[n].append(common.timeit(runners[n], device))
    return times


def breakdown(model, h, w, device, repeats):
    """Per-stage ms of the mixed model (``bench_inference.StageTimer``,
    sequential calls after the timed rounds)."""
    import time

    from bench_inference import STAGES, StageTimer
    timer = StageTimer(model, device)
    run = make_runner(model, h, w, device)
    run()
    timer.acc.clear()
    total = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        common.sync(device)
        total += time.perf_counter() - t0
    stages = {s: timer.acc.get(s, 0.0) for s in STAGES[:-1]}
    stages['other'] = total - sum(stages.values())
    return {s: 1e3 * v / repeats for s, v in stages.items()}


def estimators(ta, tb):
    """(ratio of medians, ratio of minima, median per-round ratio) of
    times ``ta`` over ``tb`` (same rounds)."""
    return (statistics.median(ta) / statistics.median(tb),
            min(ta) / min(tb),
            statistics.median(a / b for a, b in zip(ta, tb)))


def verdict(vals, bound=TARGET):
    ok = [v <= bound for v in vals]
    return 'met' if all(ok) else 'missed' if not any(ok) else 'mixed'


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[800, 1216])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--hosts', nargs='+', default=list(HOSTS),
                    choices=list(HOSTS))
    ap.add_argument('--name', default=None)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.size, args.repeats = [96, 96], 1
    common.setup()
    from torch.utils.flop_counter import FlopCounterMode
    dev = args.device
    info = common.machine_info(dev)
    h, w = args.size
    runners, dets, gflops, keys, mmodels = {}, {}, {}, {}, {}
    for host in args.hosts:
        hmodel, mmodel, keys[host] = build_pair(host, dev)
        mmodels[host] = mmodel
        for name, model in ((host, hmodel), (f'blend_{host}', mmodel)):
            runners[name] = make_runner(model, h, w, dev)
            with FlopCounterMode(display=False) as fc:
                out = runners[name]()
            gflops[name] = fc.get_total_flops() / 1e9
            dets[name] = [len(o.pred_instances) for o in out]
            if name.startswith('blend_'):
                masks = out[0].pred_instances.masks
                assert tuple(masks.shape[-2:]) == (h, w), masks.shape
        print(host, keys[host], {k: dets[k] for k in (host, f'blend_{host}')},
              flush=True)
    raw = pair_rounds(runners, args.hosts, dev, args.repeats)
    stage_ms = breakdown(mmodels[args.hosts[0]], h, w, dev,
                         min(3, args.repeats))
    print(f'blend_{args.hosts[0]} stages (ms):',
          {k: round(v, 1) for k, v in stage_ms.items()}, flush=True)
    # within the same calls: (all stages) / (all stages but the add-on)
    addon = sum(stage_ms[s] for s in ('basis', 'blender', 'paste'))
    within_call = sum(stage_ms.values()) / (sum(stage_ms.values()) - addon)
    rows, ratios = [], {}
    for host in args.hosts:
        th, tm = raw[host], raw[f'blend_{host}']
        vals = estimators(tm, th)
        fr = gflops[f'blend_{host}'] / gflops[host]
        ratios[host] = dict(ratio_of_medians=vals[0], ratio_of_minima=vals[1],
                            median_per_round=vals[2], flop_ratio=fr,
                            target=TARGET, verdict=verdict(vals))
        rows.append([
            LABELS[host], f'{h}x{w}',
            f"{dets[host][0]} / {dets[f'blend_{host}'][0]}",
            common.median(th) * 1e3, common.median(tm) * 1e3,
            vals[0], vals[1], vals[2], gflops[host],
            gflops[f'blend_{host}'], fr, f'<= {TARGET}',
            ratios[host]['verdict']])
        print(f'{host}: mixed/host median {vals[0]:.3f}, min {vals[1]:.3f}, '
              f'per-round {vals[2]:.3f}, FLOPs {fr:.3f} -> '
              f"{ratios[host]['verdict']}", flush=True)
    common.finish_info(info)
    name = args.name or 'bench_mixing' + ('_quick' if args.quick else '')
    tables = {TABLE: dict(columns=[
        'host', 'input', 'dets host / mixed', 'host ms (median)',
        'mixed ms (median)', 'mixed / host (medians)', '(minima)',
        '(per-round median)', 'host GFLOPs', 'mixed GFLOPs', 'FLOP ratio',
        'target', 'verdict (all three)'], rows=rows),
        STAGE_TABLE.format(LABELS[args.hosts[0]]): dict(
            columns=['stage', 'ms', 'fraction of host median'],
            rows=[[s, v, v / (common.median(raw[args.hosts[0]]) * 1e3)]
                  for s, v in stage_ms.items()])}
    notes = [
        f'torch threads {torch.get_num_threads()}; {args.repeats} timed '
        'rounds after 1 warm-up; in each round every host and its mixed '
        'model run back to back (pair order swapped per round, hosts '
        'rotated); batch 1, one random image.',
        'Same weights: mmdet host config built with random init, its '
        'state_dict loaded into the mixing config (every host key matched; '
        'only the top layer and mask head are the mixed model\'s own).',
        'Forced detections: score_thr=0, NMS IoU 1.0, nms_pre>=1000, '
        'max_per_img=100; the mixed model also pastes 100 image-size masks.',
        'FLOPs: conv/matmul only (torch.utils.flop_counter), one inference.',
        f'Per-stage table: {min(3, args.repeats)} sequential calls of the '
        f'mixed {LABELS[args.hosts[0]]} after the rounds; within those calls '
        '(all stages) / (all but basis + blender + paste) = '
        f'{within_call:.3f} (the top layer at the 100 detections is inside '
        'post-process, not counted as add-on).',
        f"Load average start {info['load_average_start']}, end "
        f"{info['load_average_end']} (shared 2-core machine).",
    ]
    p = common.plt()
    fig, ax = p.subplots(figsize=(7, 3))
    labels = [LABELS[x] for x in args.hosts]
    ax.barh(labels, [ratios[x]['ratio_of_medians'] for x in args.hosts],
            label='time (ratio of medians)')
    ax.scatter([ratios[x]['flop_ratio'] for x in args.hosts], labels,
               color='k', zorder=3, label='FLOPs')
    ax.axvline(TARGET, color='r', ls='--', label=f'target {TARGET}')
    ax.set_xlabel(f'mixed / host inference ({dev}, {h}x{w}, 100 dets)')
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    return common.write_results(args.out, name, info, tables, dict(
        raw_s=raw, stage_ms=stage_ms, within_call_ratio=within_call,
        dets=dets, gflops=gflops, ratios=ratios, keys=keys,
        args=vars(args)), notes)


if __name__ == '__main__':
    main()
