"""What the benchmark suites share: the stamp and the results writer (one
for every suite), model building, interleaved timing and peak memory."""

import copy
import datetime
import json
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
RESULTS_DIR = osp.join(BENCH_DIR, 'results')
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402

#: a run is ``loaded`` when the 1-minute load average before or after it
#: exceeds LOAD_FACTOR x its thread count (at most the cores + 0.5)
LOAD_FACTOR = 1.5
#: paths whose changes do not make a stamp's commit ``-dirty``: what the
#: suites and report.py write
GENERATED = ('benchmarks/results', 'benchmarks/README.md', 'README.md')


def setup() -> None:
    """Register mmdet + mmblend modules (idempotent)."""
    from mmdet.utils import register_all_modules

    register_all_modules()
    from mmengine.logging import MMLogger

    import mmblend  # noqa: F401

    # quiet the per-parameter init messages of random-init models
    MMLogger.get_instance('mmengine', log_level='WARNING')


def mim_config(rel: str) -> str:
    """Path of one of mmdet's bundled (.mim) configs."""
    import mmdet

    return osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', rel)


def repo_config(rel: str) -> str:
    return osp.join(REPO_ROOT, rel)


# ----------------------------------------------------------------- stamp --
def git_commit() -> str:
    """``git describe --always`` of the repository, ``-dirty`` when a
    tracked file outside :data:`GENERATED` differs from it; ``unknown``
    outside a git checkout."""

    def git(*args):
        return subprocess.run(
            ['git', '-C', REPO_ROOT, *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        commit = git('describe', '--always')
        changed = git(
            'status',
            '--porcelain',
            '--untracked-files=no',
            '--',
            '.',
            *(f':!{p}' for p in GENERATED),
        )
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return commit + ('-dirty' if changed else '')


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_mib() -> Optional[float]:
    """MemAvailable of /proc/meminfo (MiB; None where there is none)."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def load_limit(threads: int, cores: int) -> float:
    return min(LOAD_FACTOR * threads, cores + 0.5)


def is_loaded(stamp: dict) -> bool:
    """The load rule: the 1-minute load average before or after the run
    above :func:`load_limit` of its thread count."""
    limit = load_limit(stamp['threads'], stamp['machine']['cores'])
    return (
        max(stamp['load_average_before'][0], stamp['load_average_after'][0])
        > limit
    )


def start_stamp(
    suite: str,
    command: str,
    threads: int,
    device: str,
    quick: bool,
    timed: bool,
) -> dict:
    """What a result records about its run, taken before the run;
    :func:`finish_stamp` adds the end."""
    import mmcv
    import mmdet
    import mmengine

    machine = dict(
        cpu=cpu_model(), cores=os.cpu_count(), platform=platform.platform()
    )
    if device == 'cuda' and torch.cuda.is_available():
        machine['gpu'] = torch.cuda.get_device_name(0)
    return dict(
        suite=suite,
        command=command,
        commit=git_commit(),
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        device=device,
        threads=threads,
        quick=quick,
        timed=timed,
        machine=machine,
        versions=dict(
            python=platform.python_version(),
            torch=torch.__version__,
            mmcv=mmcv.__version__,
            mmengine=mmengine.__version__,
            mmdet=mmdet.__version__,
        ),
        load_average_before=list(os.getloadavg()),
        available_mib_before=available_mib(),
    )


def finish_stamp(stamp: dict) -> dict:
    stamp.update(
        end=datetime.datetime.now().isoformat(timespec='seconds'),
        load_average_after=list(os.getloadavg()),
        available_mib_after=available_mib(),
    )
    stamp['load_limit'] = load_limit(
        stamp['threads'], stamp['machine']['cores']
    )
    stamp['loaded'] = is_loaded(stamp)
    return stamp


# ---------------------------------------------------------------- writer --
def result_name(
    suite: str, threads: int, device: str = 'cpu', quick: bool = False
) -> str:
    """``<suite>-t<threads>[-cuda][-quick]``: a suite's result file name."""
    return (
        f'{suite}-t{threads}'
        + ('-cuda' if device == 'cuda' else '')
        + ('-quick' if quick else '')
    )


def write_result(out_dir: str, name: str, payload: dict) -> str:
    """Write ``<name>.json`` (everything) and ``<name>.md`` (stamp, notes,
    tables) under ``out_dir``; returns the json path.

    ``payload``: ``stamp`` (:func:`start_stamp` + :func:`finish_stamp`),
    ``args``, ``tables`` (title -> ``dict(columns=[...], rows=[[...]])``),
    ``samples`` (key -> per-round values, what verdicts are computed from),
    ``values`` (key -> one number, e.g. FLOPs), ``notes``, and whatever else
    the suite returns.
    """
    os.makedirs(out_dir, exist_ok=True)
    payload = dict(name=name, **payload)
    path = osp.join(out_dir, f'{name}.json')
    with open(path, 'w') as f:
        json.dump(payload, f, indent=1, default=_json_default)
        f.write('\n')
    s = payload['stamp']
    lines = [
        f'# {name}',
        '',
        f"`{s['command']}`",
        '',
        f"- commit {s['commit']}, {s['date']}, {s['device']}, "
        f"threads {s['threads']}, {s['machine']['cpu']} "
        f"({s['machine']['cores']} cores)",
        f"- load average before {_fmt_list(s['load_average_before'])},"
        f" after {_fmt_list(s['load_average_after'])} (limit "
        f"{s['load_limit']}): loaded {str(s['loaded']).lower()}",
        '- ' + ', '.join(f'{k} {v}' for k, v in s['versions'].items()),
    ]
    if s.get('note'):
        lines.append(f"- {s['note']}")
    lines += [f'- {n}' for n in payload.get('notes', ())]
    for title, t in payload.get('tables', {}).items():
        lines += [
            '',
            f'## {title}',
            '',
            markdown_table(t['columns'], t['rows']),
        ]
    with open(osp.join(out_dir, f'{name}.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def markdown_table(columns: Sequence, rows: Sequence[Sequence]) -> str:
    lines = [
        '| ' + ' | '.join(map(str, columns)) + ' |',
        '|' + ' --- |' * len(columns),
    ]
    lines += ['| ' + ' | '.join(fmt(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines)


def fmt(v) -> str:
    """A float for a table (no decimals from 100, 2 from 1, else 3
    significant digits; NaN: ``n/a``), anything else as ``str``."""
    if isinstance(v, float):
        if v != v:
            return 'n/a'
        if abs(v) >= 100:
            return f'{v:.0f}'
        if abs(v) >= 1:
            return f'{v:.2f}'
        return f'{v:.3g}'
    return str(v)


def _fmt_list(xs) -> str:
    return '/'.join(f'{x:.2f}' for x in xs)


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    return str(o)


# ---------------------------------------------------------------- timing --
def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def timeit(fn: Callable, device: str, reps: int = 1) -> float:
    """Seconds of one call of ``fn`` (mean over ``reps`` back-to-back)."""
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / reps


def warm_up(
    fns: Dict, device: str, min_s: float, warmup: int = 1
) -> Dict[str, int]:
    """Call every ``fn`` ``warmup`` times; returns, per name, the
    back-to-back calls of one timing of at least ``min_s`` seconds (from one
    more timed call)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    return {
        n: max(1, math.ceil(min_s / timeit(fn, device)))
        for n, fn in fns.items()
    }


def interleaved(
    fns: Dict, device: str, rounds: int, min_s: float = 0.0, warmup: int = 1
) -> Dict[str, List[float]]:
    """Round-robin timing: each round times every ``fn`` once (order
    rotated each round), so load changes of a shared machine hit all of
    them alike; a timing spans at least ``min_s`` seconds (a shorter ``fn``
    is called back to back, :func:`warm_up`). Returns the per-round times
    (seconds per call)."""
    names = list(fns)
    reps = warm_up(fns, device, min_s, warmup)
    times = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            times[n].append(timeit(fns[n], device, reps[n]))
    return times


def median(xs: Sequence[float]) -> float:
    import statistics

    return statistics.median(xs) if len(xs) else float('nan')


def ms(times: Dict[str, List[float]]) -> Dict[str, List[float]]:
    """Per-round seconds -> milliseconds."""
    return {k: [v * 1e3 for v in vs] for k, vs in times.items()}


def gflops(fn: Callable) -> float:
    """Forward GFLOPs of ``fn()``: 2 x multiply-adds of convolutions and
    matmuls (``torch.utils.flop_counter``; RoIAlign, grid_sample and NMS
    are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops() / 1e9


# ---------------------------------------------------------------- memory --
def current_rss_mb() -> float:
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / 2**20
    except OSError:
        return float('nan')


class PeakRSS:
    """Peak resident set size (MiB) above the level at ``__enter__``,
    sampled from /proc/self/statm by a thread every ``interval`` s (torch
    ops release the GIL, so the sampler runs during them)."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0.0

    def __enter__(self):
        import threading

        self.base = current_rss_mb()
        self.peak = self.base
        self._stop = threading.Event()

        def sample():
            while not self._stop.is_set():
                self.peak = max(self.peak, current_rss_mb())
                self._stop.wait(self.interval)

        self._t = threading.Thread(target=sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, current_rss_mb())

    @property
    def delta(self) -> float:
        return self.peak - self.base


def peak_memory_mib(fn: Callable, device: str) -> float:
    """Peak memory (MiB) of one ``fn()`` call above the level before it,
    after a warm-up call (allocator caches, lazy inits, optimizer state):
    ``torch.cuda.max_memory_allocated`` on CUDA, sampled RSS on CPU."""
    if device == 'cuda':
        fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    fn()
    with PeakRSS() as m:
        fn()
    return m.delta


def child_peak_mib(
    module: str,
    factory: str,
    args: Sequence,
    device: str,
    threads: int,
    timeout: float = 900,
) -> float:
    """:func:`peak_memory_mib` of ``suites.<module>.<factory>(*args)`` (a
    function returning the callable to measure) in a fresh process, so no
    earlier allocation of this one counts. NaN (with the child's stderr
    printed) on failure."""
    code = (
        f'import sys; sys.path.insert(0, {BENCH_DIR!r}); import torch; '
        f'torch.set_num_threads({threads}); import common; '
        f'common.setup(); from suites.{module} import {factory}; '
        f'print("PEAK_MB", common.peak_memory_mib({factory}'
        f'(*{list(args)!r}), {device!r}))'
    )
    try:
        out = subprocess.run(
            [sys.executable, '-c', code],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return float('nan')
    for line in out.stdout.splitlines()[::-1]:
        if line.startswith('PEAK_MB '):
            return float(line.split()[1])
    print(out.stderr[-2000:], file=sys.stderr)
    return float('nan')


# ---------------------------------------------------------------- models --
def build_model(cfg, device: str = 'cpu'):
    from mmdet.registry import MODELS

    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    _positive_random_boxes(model)
    return model.to(device)


def _positive_random_boxes(model) -> None:
    """RTMDet's heads without ``exp_on_reg`` regress box distances as
    ``conv(x) * stride``: at random init about half are negative, nearly
    every box has a negative size and post-processing drops it
    (``min_bbox_size``), leaving 0-20 detections instead of the forced
    100. Their regression biases are set to 2 (boxes of ~4 strides, as a
    trained model predicts); the compute is unchanged."""
    for m in model.modules():
        if hasattr(m, 'rtm_reg') and not getattr(m, 'exp_on_reg', True):
            for conv in m.rtm_reg:
                torch.nn.init.constant_(conv.bias, 2.0)


def strip_init(model_cfg) -> None:
    """No pretrained weights: set every backbone init_cfg to None."""
    if 'backbone' in model_cfg:
        model_cfg.backbone.init_cfg = None


def force_dets(model_cfg, num: int = 100) -> None:
    """Make a randomly initialised model output exactly ``num`` detections
    per image: score_thr 0, max_per_img=num, NMS threshold 1.0 (suppresses
    nothing) and a large nms_pre."""
    tc = model_cfg.get('test_cfg')
    if tc is None:
        return
    if 'rcnn' in tc:  # two-stage
        tc.rpn.nms_pre = max(tc.rpn.get('nms_pre', 1000), 1000)
        tc.rpn.max_per_img = max(tc.rpn.get('max_per_img', 1000), 1000)
        tc.rpn.nms = dict(type='nms', iou_threshold=1.0)
        tc.rcnn.score_thr = 0.0
        tc.rcnn.max_per_img = num
        tc.rcnn.nms = dict(type='nms', iou_threshold=1.0)
        return
    tc.score_thr = 0.0
    tc.max_per_img = num
    tc.nms_pre = max(tc.get('nms_pre', 1000), 1000)
    if 'nms' in tc:
        tc.nms = dict(type='nms', iou_threshold=1.0)
    if 'iou_thr' in tc:  # YOLACT's fast NMS
        tc.iou_thr = 1.0
        tc.top_k = max(tc.get('top_k', 200), num)


def fake_batch(
    model,
    batch: int,
    h: int,
    w: int,
    device: str,
    with_gt: bool = False,
    num_gt: int = 5,
    seed: int = 0,
    with_masks: bool = True,
):
    """A preprocessed ``(inputs, data_samples)`` batch of random images of
    size ``h x w`` (multiple of 32), optionally with random rectangle GT
    (boxes, labels and, with ``with_masks``, their masks)."""
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    g = torch.Generator().manual_seed(seed)
    rng = np.random.RandomState(seed)
    samples = []
    imgs = []
    for _ in range(batch):
        img = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
        s = DetDataSample()
        meta = dict(
            img_shape=(h, w),
            ori_shape=(h, w),
            pad_shape=(h, w),
            batch_input_shape=(h, w),
            scale_factor=(1.0, 1.0),
            img_id=0,
        )
        s.set_metainfo(meta)
        if with_gt:
            boxes, masks = [], np.zeros((num_gt, h, w), np.uint8)
            for i in range(num_gt):
                bw = rng.randint(w // 8, w // 2)
                bh = rng.randint(h // 8, h // 2)
                x1 = rng.randint(0, w - bw)
                y1 = rng.randint(0, h - bh)
                boxes.append([x1, y1, x1 + bw, y1 + bh])
                masks[i, y1 : y1 + bh, x1 : x1 + bw] = 1
            gt = InstanceData()
            gt.bboxes = torch.tensor(boxes, dtype=torch.float32)
            gt.labels = torch.from_numpy(rng.randint(0, 80, num_gt))
            if with_masks:
                gt.masks = BitmapMasks(masks, h, w)
            s.gt_instances = gt
            s.ignored_instances = InstanceData(
                bboxes=torch.zeros((0, 4)),
                labels=torch.zeros((0,), dtype=torch.long),
            )
        samples.append(s)
        imgs.append(img)
    data = model.data_preprocessor(
        dict(inputs=imgs, data_samples=samples), training=with_gt
    )
    return data['inputs'].to(device), [
        d.to(device) for d in data['data_samples']
    ]


def cap_dets(models, run: Callable, num: int = 100) -> None:
    """For heads without a ``max_per_img`` cut (YOLOX keeps whatever NMS
    leaves; with :func:`force_dets` that is every candidate): set the
    ``score_thr`` of each of ``models`` (sharing their weights) between the
    ``num``-th and the next highest score of ``run()`` (one model's
    predictions), so that each returns ``num`` detections."""
    scores = run()[0].pred_instances.scores
    if len(scores) <= num:
        return
    top = scores.sort(descending=True).values[num - 1 : num + 1]
    for model in models:
        model.bbox_head.test_cfg.score_thr = float(top.mean())


def predictor(model, h: int, w: int, device: str) -> Callable:
    """``model.predict`` on a fixed :func:`fake_batch` of one random
    ``h x w`` image, under ``torch.no_grad``."""
    inputs, samples = fake_batch(model, 1, h, w, device)

    def run():
        with torch.no_grad():
            return model(inputs, samples, mode='predict')

    return run


def train_step(
    cfg, size: Sequence[int], batch: int, device: str, with_masks: bool = True
) -> Callable:
    """One training iteration of the model of ``cfg`` on a fixed
    :func:`fake_batch` of ``batch`` random ``size`` images with 5 random
    rectangle GT each (without masks for a detector: mmdet's detection
    pipelines load none, and RTMDet's assigner reads them where present):
    forward with losses + backward + SGD step. Returns the step (a closure
    returning the loss; ``step.model`` is the model)."""
    model = build_model(cfg, device).train()
    inputs, samples = fake_batch(
        model,
        batch,
        *size,
        device,
        with_gt=True,
        num_gt=5,
        with_masks=with_masks,
    )
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        # a copy per step, as each step of a real loop gets a new batch
        # (RTMDet-Ins's loss turns the batch's masks into tensors in place)
        losses = model(inputs, copy.deepcopy(samples), mode='loss')
        loss, _ = model.parse_losses(losses)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step.model = model
    return step
