"""End-to-end inference latency and peak memory: BlendMask R-50 vs mmdet's
Mask R-CNN R-50-FPN, CondInst R-50, YOLACT R-50 and FCOS R-50 at one common
input size; YOLACT-550 vs BlendMask-RT-550; per-stage breakdown of BlendMask.

Random weights, so the number of detections is FORCED: every model runs with
score_thr=0, an NMS IoU threshold of 1.0 (suppresses nothing) and
max_per_img=100 -> exactly 100 detections (and 100 masks) per image.
Latency = model(inputs, samples, mode='predict') on a preprocessed batch of
one random image (data loading/normalisation excluded), median of N runs
after a warm-up, models timed round-robin, same torch threads. Peak memory:
CPU -> peak RSS increase of a fresh subprocess during one inference
(ru_maxrss minus the RSS before it); CUDA -> torch.cuda.max_memory_allocated.

    python benchmarks/bench_inference.py [--size 800 1216] [--repeats 5]
"""
import argparse
import os
import os.path as osp
import sys
import time
from collections import defaultdict

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402
import peers  # noqa: E402

MAIN = ['blendmask', 'mask_rcnn', 'condinst', 'yolact', 'fcos']
PAIR = ['blendmask_rt', 'yolact550']
MEM_NOTE = ('Memory (CPU): peak RSS above the level before the call, '
            'sampled every 2 ms during one inference (after a warm-up one) in '
            'a fresh process per model; CUDA: max_memory_allocated.')
STAGES = ['backbone', 'neck', 'head', 'basis', 'post-process', 'blender',
          'paste', 'other']


def get_model(name, device):
    if name == 'yolact550':
        cfg = peers.load_cfg('yolact', 100, native_yolact=True)
    else:
        cfg = peers.load_cfg(name, 100)
    return common.build_model(cfg, device).eval()


def make_runner(model, h, w, device):
    inputs, samples = common.fake_batch(model, 1, h, w, device)

    def run():
        with torch.no_grad():
            return model(inputs, samples, mode='predict')
    return run


def count_dets(out):
    return [len(o.pred_instances) for o in out]


class StageTimer:
    """Wall-clock per stage of a BlendMask predict call (monkeypatched
    forwards; nested time is attributed to the innermost stage)."""

    def __init__(self, model, device):
        import mmblend.models.dense_heads.blendmask_mask_head as mh
        self.device = device
        self.acc = defaultdict(float)
        self.stack = []
        self._wrap(model.backbone, 'forward', 'backbone')
        if model.neck is not None:
            self._wrap(model.neck, 'forward', 'neck')
        self._wrap(model.bbox_head, 'forward', 'head')
        self._wrap(model.mask_head.basis, 'forward', 'basis')
        self._wrap(model.bbox_head, 'predict_by_feat', 'post-process')
        self._wrap(model.mask_head.blender, 'forward', 'blender')
        self._wrap(mh, 'paste_masks', 'paste')

    def _wrap(self, obj, attr, stage):
        fn = getattr(obj, attr)
        timer = self

        def wrapped(*a, **k):
            common.sync(timer.device)
            t0 = time.perf_counter()
            timer.stack.append(0.0)
            try:
                return fn(*a, **k)
            finally:
                common.sync(timer.device)
                dt = time.perf_counter() - t0
                inner = timer.stack.pop()
                timer.acc[stage] += dt - inner
                if timer.stack:
                    timer.stack[-1] += dt
        setattr(obj, attr, wrapped)


def mem_child(name, h, w, device):
    """Run in a fresh process: peak memory of one inference (MiB)."""
    common.setup()
    model = get_model(name, device)
    return common.peak_memory_mib(make_runner(model, h, w, device), device)


def peak_mem(name, h, w, device, threads):
    cmd = [sys.executable, osp.abspath(__file__), '--mem-child', name,
           '--size', str(h), str(w), '--device', device,
           '--threads', str(threads)]
    return common.run_mem_child(cmd, timeout=600)


def time_group(names, size, device, repeats, warmup):
    h, w = size
    runners, dets, models = {}, {}, {}
    for n in names:
        models[n] = get_model(n, device)
        runners[n] = make_runner(models[n], h, w, device)
        dets[n] = count_dets(runners[n]())
    times = common.interleaved(runners, device, repeats, warmup=warmup)
    return ({n: common.median(t) * 1e3 for n, t in times.items()}, dets,
            times, models)


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[800, 1216])
    ap.add_argument('--rt-size', type=int, nargs=2, default=[550, 550])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--no-memory', action='store_true')
    ap.add_argument('--only-memory', action='store_true',
                    help='re-measure only the memory column of an existing '
                    'result')
    ap.add_argument('--mem-child', default=None, help=argparse.SUPPRESS)
    args = common.parse_args(ap, argv)
    if args.mem_child:
        print('PEAK_MB', mem_child(args.mem_child, *args.size, args.device))
        return
    main_models, pair = MAIN, PAIR
    if args.quick:
        args.size, args.rt_size, args.repeats = [96, 96], [96, 96], 1
        main_models = ['blendmask', 'fcos']
        args.no_memory = True
    common.setup()
    dev = args.device
    info = common.machine_info(dev)
    threads = torch.get_num_threads()
    if args.only_memory:
        mem = {n: peak_mem(n, *args.size, dev, threads) for n in main_models}
        mem.update({n: peak_mem(n, *args.rt_size, dev, threads)
                    for n in pair})
        print('peak MiB', mem, flush=True)
        labels = dict(peers.LABELS, yolact550='YOLACT-550 R50',
                      blendmask_rt='BlendMask-RT-550 R50')
        common.update_memory(
            args.out, 'bench_inference' + ('_quick' if args.quick else ''),
            'End-to-end inference (100 forced detections per image)',
            'peak mem MiB', labels, mem, MEM_NOTE)
        return

    lat, dets, raw, models = time_group(main_models, args.size, dev,
                                        args.repeats, 1)
    print('latency ms', {k: round(v, 1) for k, v in lat.items()}, dets,
          flush=True)
    lat_rt, dets_rt, raw_rt, _ = time_group(pair, args.rt_size, dev,
                                            args.repeats, 1)
    print('latency ms', {k: round(v, 1) for k, v in lat_rt.items()},
          dets_rt, flush=True)

    # per-stage breakdown of BlendMask (separate, instrumented runs)
    model = models.pop('blendmask')  # instrumented after its timing
    del models
    timer = StageTimer(model, dev)
    run = make_runner(model, *args.size, dev)
    run()
    timer.acc.clear()
    totals = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        common.sync(dev)
        totals.append(time.perf_counter() - t0)
    total = sum(totals)
    stages = {s: timer.acc.get(s, 0.0) for s in STAGES[:-1]}
    stages['other'] = total - sum(stages.values())
    stage_ms = {s: 1e3 * v / args.repeats for s, v in stages.items()}
    stage_frac = {s: v / total for s, v in stages.items()}
    del model, run, timer

    mem = {}
    if not args.no_memory:
        for n in main_models:
            mem[n] = peak_mem(n, *args.size, dev, threads)
        for n in pair:
            mem[n] = peak_mem(n, *args.rt_size, dev, threads)
        print('peak MiB', mem, flush=True)

    base = lat['blendmask']
    rows = [[peers.LABELS[n], f'{args.size[0]}x{args.size[1]}',
             dets[n][0], lat[n], lat[n] / base, base / lat[n],
             mem.get(n, float('nan'))] for n in main_models]
    rows += [[('YOLACT-550 R50' if n == 'yolact550' else
               'BlendMask-RT-550 R50'), f'{args.rt_size[0]}x{args.rt_size[1]}',
              dets_rt[n][0], lat_rt[n], lat_rt[n] / lat_rt['blendmask_rt'],
              lat_rt['blendmask_rt'] / lat_rt[n], mem.get(n, float('nan'))]
             for n in pair]
    ratio = {n: base / lat[n] for n in main_models}
    rt_ratio = lat_rt['blendmask_rt'] / lat_rt['yolact550']
    targets = {}
    for n, lim in (('mask_rcnn', .75), ('condinst', .8), ('fcos', 1.15)):
        if n in lat:
            targets[f'blendmask/{n} <= {lim}'] = dict(
                value=ratio[n], target=lim, met=ratio[n] <= lim)
    targets['blendmask_rt/yolact550 <= 1.0'] = dict(
        value=rt_ratio, target=1.0, met=rt_ratio <= 1.0)
    bp = stage_frac['blender'] + stage_frac['paste']
    targets['(blender + paste) / BlendMask total <= 0.05'] = dict(
        value=bp, target=0.05, met=bp <= 0.05)
    for k, v in targets.items():
        print(f"{k}: {v['value']:.3f} -> {'met' if v['met'] else 'MISSED'}")
    print('BlendMask stages (ms):',
          {k: round(v, 1) for k, v in stage_ms.items()})

    name = 'bench_inference' + ('_quick' if args.quick else '')
    tables = {
        'End-to-end inference (100 forced detections per image)': dict(
            columns=['model', 'input', 'dets', 'latency ms (median)',
                     'x BlendMask (group)', 'BlendMask / model',
                     'peak mem MiB'], rows=rows),
        'BlendMask R50 per-stage breakdown': dict(
            columns=['stage', 'ms', 'fraction'],
            rows=[[s, stage_ms[s], stage_frac[s]] for s in STAGES]),
        'Targets': dict(columns=['target', 'value', 'met'],
                        rows=[[k, v['value'], v['met']]
                              for k, v in targets.items()]),
    }
    notes = [f'torch threads {threads}; {args.repeats} timed rounds after '
             '1 warm-up, round-robin across models; random weights, '
             'score_thr=0, NMS IoU 1.0, max_per_img=100 for every model.',
             'YOLACT at the common size uses anchors at strides 8..128; '
             'YOLACT-550 is the unmodified config (550x550, its own anchors);'
             ' BlendMask-RT is padded to a multiple of 32 (576x576).',
             'FCOS: mmdet fcos_r50-caffe..giou_1x config with a pytorch-style '
             'R-50 (same backbone as the others), box detection only.',
             MEM_NOTE]
    p = common.plt()
    fig, axes = p.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    names = [r[0] for r in rows]
    ax.barh(names, [r[3] for r in rows])
    ax.set_xlabel(f'latency ms ({dev}, median, 100 dets)')
    ax.invert_yaxis()
    ax.tick_params(labelsize=7)
    ax = axes[1]
    ax.barh(STAGES, [stage_ms[s] for s in STAGES])
    ax.set_xlabel('BlendMask R50 stage time (ms)')
    ax.invert_yaxis()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    common.finish_info(info)
    common.write_results(args.out, name, info, tables, dict(
        latency_ms=lat, latency_rt_ms=lat_rt, dets=dets, dets_rt=dets_rt,
        raw_s=raw, raw_rt_s=raw_rt, stage_ms=stage_ms,
        stage_fraction=stage_frac, peak_mem_mib=mem, targets=targets,
        args=vars(args)), notes)


if __name__ == '__main__':
    main()
