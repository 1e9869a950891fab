"""Shared helpers of the mmblend benchmarks: command line, machine info, model
building, timing, and writing results (markdown table + json + PNG plot)."""
import argparse
import copy
import datetime
import json
import os
import os.path as osp
import platform
import resource
import statistics
import sys
import time
from typing import Callable, Dict, List, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402


def arg_parser(doc: str) -> argparse.ArgumentParser:
    """Parser with the options every main benchmark script takes:
    ``--device``, ``--quick``, ``--out`` and ``--threads``; the first line
    of ``doc`` is its description."""
    ap = argparse.ArgumentParser(description=doc.split('\n')[0])
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--out', default=osp.join(REPO_ROOT, 'benchmarks',
                                              'results'))
    ap.add_argument('--threads', type=int, default=0,
                    help='torch threads (0: torch default)')
    return ap


def parse_args(ap: argparse.ArgumentParser,
               argv: Sequence[str] = None) -> argparse.Namespace:
    """Parse ``argv`` and apply ``--threads``."""
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


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


def machine_info(device: str = 'cpu') -> dict:
    import mmcv
    import mmdet
    import mmengine
    info = dict(
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        platform=platform.platform(),
        python=platform.python_version(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        mmcv=mmcv.__version__,
        mmengine=mmengine.__version__,
        mmdet=mmdet.__version__,
        device=device,
        load_average_start=list(os.getloadavg()),
    )
    if device == 'cuda' and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def finish_info(info: dict) -> dict:
    info['load_average_end'] = list(os.getloadavg())
    return info


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


def interleaved(fns: Dict[str, Callable], device: str, repeats: int,
                warmup: int = 1, reps: int = 1) -> Dict[str, List[float]]:
    """Round-robin timing: each round runs every ``fn`` once (order rotated
    each round), so load changes of a shared machine hit all of them alike.
    Returns the per-round times (seconds)."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            times[n].append(timeit(fns[n], device, reps))
    return times


# Training-time targets of issue #7 (peer, bound, comparison), used by
# bench_train and summarize; they are the final model's, and its width-128
# variant is reported beside it against the same targets.
TRAIN_TARGETS = (('fcos', 1.15, '<='), ('condinst', 1.0, '<'))
TRAIN_MODELS = ('blendmask', 'blendmask_w128')


def meets(value: float, bound: float, op: str) -> bool:
    """``value op bound`` for ``op`` in ``'<'``, ``'<='``."""
    return value < bound if op == '<' else value <= bound


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float('nan')


def max_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB, Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
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


def run_mem_child(cmd: List[str], timeout: float) -> float:
    """Run a ``--mem-child`` command in a fresh process and return the value
    of its last ``PEAK_MB <x>`` line (NaN, with its stderr, on failure)."""
    import subprocess
    try:
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=timeout)
        for line in out.stdout.splitlines()[::-1]:
            if line.startswith('PEAK_MB '):
                return float(line.split()[1])
        print(out.stderr[-2000:], file=sys.stderr)
    except subprocess.TimeoutExpired:
        pass
    return float('nan')


def update_memory(out_dir: str, name: str, table: str, column: str,
                  labels: Dict[str, str], mem: Dict[str, float],
                  note: str) -> None:
    """Replace the memory column of an existing result (json + md)."""
    path = osp.join(out_dir, f'{name}.json')
    with open(path) as f:
        payload = json.load(f)
    t = payload['tables'][table]
    ci = t['columns'].index(column)
    for row in t['rows']:
        for key, label in labels.items():
            if row[0] == label and key in mem:
                row[ci] = mem[key]
    payload['peak_mem_mib'] = mem
    info = payload.pop('machine')
    tables = payload.pop('tables')
    payload.pop('name', None)
    notes = payload.pop('notes', [])
    notes = [n for n in notes if not n.startswith('Memory')] + [note]
    write_results(out_dir, name, info, tables, dict(payload, notes=notes),
                  notes)


def write_results(out_dir: str, name: str, info: dict, tables: Dict[str, dict],
                  extra: dict, notes: Sequence[str] = ()) -> dict:
    """Write ``<name>.json`` and ``<name>.md``.

    ``tables``: title -> dict(columns=[...], rows=[[...], ...]).
    Returns the json payload.
    """
    os.makedirs(out_dir, exist_ok=True)
    extra = dict(extra)
    extra.setdefault('notes', list(notes))
    payload = dict(name=name, machine=info, tables=tables, **extra)
    with open(osp.join(out_dir, f'{name}.json'), 'w') as f:
        json.dump(payload, f, indent=1, default=_json_default)
    lines = [f'# {name}', '']
    lines.append('Machine: ' + ', '.join(
        f'{k}={v}' for k, v in info.items()))
    lines.append('')
    for n in notes:
        lines.append(f'- {n}')
    if notes:
        lines.append('')
    for title, t in tables.items():
        lines.append(f'## {title}')
        lines.append('')
        lines.append('| ' + ' | '.join(map(str, t['columns'])) + ' |')
        lines.append('|' + ' --- |' * len(t['columns']))
        for row in t['rows']:
            lines.append('| ' + ' | '.join(_fmt(v) for v in row) + ' |')
        lines.append('')
    if os.path.exists(osp.join(out_dir, f'{name}.png')):
        lines.append(f'![{name}]({name}.png)')
        lines.append('')
    with open(osp.join(out_dir, f'{name}.md'), 'w') as f:
        f.write('\n'.join(lines))
    return payload


def _fmt(v):
    if isinstance(v, float):
        if v != v:
            return 'n/a'
        if abs(v) >= 100:
            return f'{v:.0f}'
        if abs(v) >= 1:
            return f'{v:.2f}'
        return f'{v:.3g}'
    return str(v)


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    return str(o)


def plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as pyplot
    return pyplot


def to_device(model, device: str):
    return model.to(device).eval() if device else model


def build_model(cfg, device: str = 'cpu'):
    from mmdet.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    return model.to(device)


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


def fake_batch(model, batch: int, h: int, w: int, device: str,
               with_gt: bool = False, num_gt: int = 5, seed: int = 0):
    """A preprocessed ``(inputs, data_samples)`` batch of random images of
    size ``h x w`` (multiple of 32), optionally with random rectangle GT."""
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
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    batch_input_shape=(h, w), scale_factor=(1.0, 1.0),
                    img_id=0)
        s.set_metainfo(meta)
        if with_gt:
            boxes, masks = [], np.zeros((num_gt, h, w), np.uint8)
            for i in range(num_gt):
                bw = rng.randint(w // 8, w // 2)
                bh = rng.randint(h // 8, h // 2)
                x1 = rng.randint(0, w - bw)
                y1 = rng.randint(0, h - bh)
                boxes.append([x1, y1, x1 + bw, y1 + bh])
                masks[i, y1:y1 + bh, x1:x1 + bw] = 1
            gt = InstanceData()
            gt.bboxes = torch.tensor(boxes, dtype=torch.float32)
            gt.labels = torch.from_numpy(rng.randint(0, 80, num_gt))
            gt.masks = BitmapMasks(masks, h, w)
            s.gt_instances = gt
            s.ignored_instances = InstanceData(
                bboxes=torch.zeros((0, 4)), labels=torch.zeros((0, ),
                                                               dtype=torch.long))
        samples.append(s)
        imgs.append(img)
    data = model.data_preprocessor(
        dict(inputs=imgs, data_samples=samples), training=with_gt)
    return data['inputs'].to(device), [
        d.to(device) for d in data['data_samples']]


def train_step(cfg, size: Sequence[int], batch: int, device: str) -> Callable:
    """One training iteration of the model of ``cfg`` on a fixed
    :func:`fake_batch` of ``batch`` random ``size`` images with 5 random
    rectangle GT each: forward with losses + backward + SGD step. Returns
    the step (a closure returning the loss; ``step.model`` is the model)."""
    model = build_model(cfg, device).train()
    inputs, samples = fake_batch(model, batch, *size, device, with_gt=True,
                                 num_gt=5)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)
    step.model = model
    return step
