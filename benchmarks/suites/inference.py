"""End-to-end inference: BlendMask vs Mask R-CNN, CondInst, YOLACT, FCOS.

BlendMask R-50 vs mmdet's Mask R-CNN, CondInst, YOLACT and FCOS (R-50) at
one input size, BlendMask-RT vs YOLACT-550, and BlendMask's per-stage
breakdown.

Random weights, so detections are FORCED (``common.force_dets``): every
model returns exactly 100 per image (recorded as ``dets``). Latency:
``model(inputs, samples, mode='predict')`` on one preprocessed random image
(no data loading), models interleaved per round (``latency/<model>``). The
stage breakdown times BlendMask's stages with wrapped forwards over
sequential calls (``stage/<stage>`` per call; nested time goes to the
innermost stage). GFLOPs of one inference per model (flop_counter). Peak
memory: CPU: peak RSS above the level before one call (after a warm-up
call) in a fresh process per model; CUDA: ``max_memory_allocated``.
FCOS is mmdet's ``fcos_r50-caffe_..._giou_1x`` head on the same
pytorch-style R-50, box detection only. YOLACT at the common size uses
anchors at strides 8..128; YOLACT-550 is mmdet's unmodified config.
"""

import time
from collections import defaultdict

import common
import peers

ROUNDS = 5
TIMED = True
MAIN = ['blendmask', 'mask_rcnn', 'condinst', 'yolact', 'fcos']
PAIR = ['blendmask_rt', 'yolact550']
LABELS = dict(
    peers.LABELS,
    blendmask_rt='BlendMask-RT-550 R50',
    yolact550='YOLACT-550 R50',
)
STAGES = [
    'backbone',
    'neck',
    'head',
    'basis',
    'post-process',
    'blender',
    'paste',
    'other',
]


def add_arguments(ap):
    ap.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=[512, 768],
        help='input H W of the R-50 models',
    )
    ap.add_argument(
        '--rt-size',
        type=int,
        nargs=2,
        default=[550, 550],
        help='input H W of BlendMask-RT and YOLACT-550',
    )
    ap.add_argument('--no-memory', action='store_true')


def get_model(name, device):
    if name == 'yolact550':
        cfg = peers.load_cfg('yolact', 100, native_yolact=True)
    else:
        cfg = peers.load_cfg(name, 100)
    return common.build_model(cfg, device).eval()


def mem_runner(name, h, w, device):
    """The call whose peak memory is measured (``common.child_peak_mib``)."""
    return common.predictor(get_model(name, device), h, w, device)


class StageTimer:
    """Wall-clock per stage of a BlendMask-style predict call, inside the
    ``with`` block (wrapped forwards, restored at its end; nested time is
    attributed to the innermost stage)."""

    def __init__(self, model, device):
        import mmblend.models.dense_heads.blendmask_mask_head as mh

        self.device = device
        self.acc = defaultdict(float)
        self.stack = []
        self.targets = [
            (model.backbone, 'forward', 'backbone'),
            (model.bbox_head, 'forward', 'head'),
            (model.mask_head.basis, 'forward', 'basis'),
            (model.bbox_head, 'predict_by_feat', 'post-process'),
            (model.mask_head.blender, 'forward', 'blender'),
            (mh, 'paste_masks', 'paste'),
        ]
        if model.neck is not None:
            self.targets.append((model.neck, 'forward', 'neck'))

    def __enter__(self):
        self.saved = [
            (obj, attr, vars(obj).get(attr)) for obj, attr, _ in self.targets
        ]
        for obj, attr, stage in self.targets:
            setattr(obj, attr, self._wrap(getattr(obj, attr), stage))
        return self

    def __exit__(self, *exc):
        for obj, attr, own in self.saved:
            if own is None:  # a method of the class
                delattr(obj, attr)
            else:
                setattr(obj, attr, own)

    def _wrap(self, fn, stage):
        def wrapped(*a, **k):
            common.sync(self.device)
            t0 = time.perf_counter()
            self.stack.append(0.0)
            try:
                return fn(*a, **k)
            finally:
                common.sync(self.device)
                dt = time.perf_counter() - t0
                inner = self.stack.pop()
                self.acc[stage] += dt - inner
                if self.stack:
                    self.stack[-1] += dt

        return wrapped


def stage_breakdown(
    model, h, w, device, calls, timer_cls=StageTimer, stages=STAGES
):
    """Per-call ms of each of ``stages`` (``other``: the rest of the call)
    and of the whole call (``total``), timed by ``timer_cls``."""
    run = common.predictor(model, h, w, device)
    out = defaultdict(list)
    with timer_cls(model, device) as timer:
        run()
        for _ in range(calls):
            timer.acc.clear()
            total = common.timeit(run, device) * 1e3
            for s in stages[:-1]:
                out[s].append(timer.acc.get(s, 0.0) * 1e3)
            out['other'].append(total - sum(out[s][-1] for s in stages[:-1]))
            out['total'].append(total)
    return out


def run(args):
    main_models, pair = MAIN, PAIR
    if args.quick:
        args.size, args.rt_size = [96, 96], [96, 96]
        main_models = ['blendmask', 'fcos']
        args.no_memory = True
    dev = args.device
    samples, values, dets, sizes = {}, {}, {}, {}
    stages = None
    for names, (h, w) in ((main_models, args.size), (pair, args.rt_size)):
        runners = {}
        for n in names:
            model = get_model(n, dev)
            runners[n] = common.predictor(model, h, w, dev)
            dets[n] = [len(o.pred_instances) for o in runners[n]()]
            values[f'gflops/{n}'] = common.gflops(runners[n])
            sizes[n] = f'{h}x{w}'
            if n == 'blendmask':
                blendmask = model
        t = common.ms(
            common.interleaved(runners, dev, args.rounds, args.min_timing)
        )
        samples.update({f'latency/{n}': v for n, v in t.items()})
        print(
            'latency ms',
            {n: round(common.median(v), 1) for n, v in t.items()},
            dets,
            flush=True,
        )
        del runners, model
        if stages is None:  # instrumented after its timed rounds
            stages = stage_breakdown(blendmask, h, w, dev, args.rounds)
            del blendmask
    samples.update({f'stage/{s}': v for s, v in stages.items()})
    samples['stage/blender+paste'] = [
        a + b for a, b in zip(stages['blender'], stages['paste'])
    ]
    if not args.no_memory:
        for n in main_models + pair:
            h, w = args.size if n in main_models else args.rt_size
            values[f'peak_mib/{n}'] = common.child_peak_mib(
                'inference', 'mem_runner', [n, h, w, dev], dev, args.threads
            )
    lat = {
        n: common.median(samples[f'latency/{n}']) for n in main_models + pair
    }
    rows = []
    for n in main_models + pair:
        base = lat['blendmask' if n in main_models else 'blendmask_rt']
        rows.append(
            [
                LABELS[n],
                sizes[n],
                dets[n][0],
                lat[n],
                base / lat[n],
                values[f'gflops/{n}'],
                values.get(f'peak_mib/{n}', float('nan')),
            ]
        )
    total = common.median(stages['total'])
    return dict(
        tables={
            'End-to-end inference (100 forced detections per image)': dict(
                columns=[
                    'model',
                    'input',
                    'dets',
                    'latency ms (median)',
                    'BlendMask / model (medians)',
                    'GFLOPs',
                    'peak mem MiB',
                ],
                rows=rows,
            ),
            'BlendMask R50 per stage (ms, median of sequential calls)': dict(
                columns=['stage', 'ms', 'share of the call'],
                rows=[
                    [
                        s,
                        common.median(stages[s]),
                        common.median(stages[s]) / total,
                    ]
                    for s in STAGES
                ],
            ),
        },
        samples=samples,
        values=values,
        dets=dets,
        notes=[
            'random weights, score_thr=0, NMS IoU 1.0, max_per_img=100 '
            'for every model; one random image, batch 1; BlendMask-RT '
            'pads to a multiple of 32.'
        ],
    )
