"""ONNX: the exported graph on onnxruntime and OpenVINO vs PyTorch eager.

BlendMask R-50, BlendMask-RT and BlendMask on mmdet's ATSS (``--models``).

Same weights (random init, 100 forced detections), the same 3 coco128
photos at each config's test scale, the runtimes with as many intra-op
threads as torch, interleaved rounds (every engine, kind and photo once per
round, rotated). Timed: end to end (image path -> DetDataSample with pasted
masks: ``inference_detector`` vs ``OnnxDetector``; ``e2e/<engine>/<model>``
is the time of the 3 photos in one round) and the network alone
(preprocessed tensor -> final detections and R x R masks: the traced module
``DetectorExport`` in PyTorch vs the graph; ``core/<engine>/<model>``).
Engines: ``torch``, ``onnx`` (onnxruntime), ``openvino``.

Where the graph's time goes: onnxruntime's profiler over ``PROFILED_RUNS``
runs on the first photo after the timed rounds, the kernel time summed by
operator type (``ops/<model>/<op>``: share of the kernel time, one value
per model): if ``Conv`` holds nearly all of it, no slimming of the other
operators can move the ratios much.
"""

import os.path as osp
import tempfile
import warnings

import common

ROUNDS = 5
TIMED = True
CONFIGS = {
    'r50': ('BlendMask R50 (56_4_14)', 'configs/blendmask_r50_3x.py'),
    'rt': (
        'BlendMask-RT R50',
        'configs/blendmask-rt_r50_fpn_ms-550-3x_coco.py',
    ),
    'atss': (
        'BlendMask on ATSS R50',
        'configs/mixing/blendmask-atss_r50_fpn_1x_coco.py',
    ),
}
ENGINES = {'onnx': 'onnxruntime', 'openvino': 'openvino'}
PHOTOS = ('000000000034.jpg', '000000000073.jpg', '000000000138.jpg')
PHOTO_DIR = osp.join(
    common.REPO_ROOT, 'demo', 'data', 'coco128-seg', 'images', 'train2017'
)


PROFILED_RUNS = 3
#: operators listed by name in the profile table; the rest are summed
PROFILE_TOP = 6


def add_arguments(ap):
    ap.add_argument(
        '--models', nargs='+', choices=list(CONFIGS), default=list(CONFIGS)
    )


def _config(path: str, quick: bool):
    from mmengine.config import Config

    cfg = Config.fromfile(common.repo_config(path))
    common.strip_init(cfg.model)
    common.force_dets(cfg.model, 100)
    if quick:  # the same structure, small: a smoke test of the suite
        m = cfg.model
        gn = dict(type='GN', num_groups=8, requires_grad=True)
        m.backbone.update(depth=18, base_channels=16)
        m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
        m.bbox_head.update(in_channels=32, feat_channels=32)
        if m.bbox_head.get('norm_cfg') is not None:
            m.bbox_head.norm_cfg = gn
        m.mask_head.basis.update(
            in_channels=32, channels=32, sem_channels=32, norm_cfg=gn
        )
        if m.mask_head.basis.type == 'ProtoNetBasis':
            m.mask_head.basis.update(refine_channels=32)
        for t in cfg.test_dataloader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (288, 192)
    return cfg


def op_shares(onnx_file: str, feeds: dict, threads: int) -> dict:
    """``{op type: share of onnxruntime's kernel time}`` over
    :data:`PROFILED_RUNS` runs of ``feeds`` (input name -> array)."""
    import collections
    import json

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = osp.splitext(onnx_file)[0] + '_profile'
    session = ort.InferenceSession(
        onnx_file, options, providers=['CPUExecutionProvider']
    )
    for _ in range(PROFILED_RUNS):
        session.run(None, feeds)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    per_op = collections.Counter()
    for e in events:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'):
            per_op[e['args']['op_name']] += e['dur']
    total = sum(per_op.values())
    return {op: us / total for op, us in per_op.most_common()}


def run(args):
    import torch
    from mmdet.apis import inference_detector, init_detector

    from mmblend.deploy import (
        DetectorExport,
        OnnxDetector,
        Preprocessor,
        export_onnx,
    )
    from mmblend.deploy.preprocess import img_shape_tensor

    if args.device != 'cpu':
        raise ValueError('the onnx suite runs on cpu only (--device cpu)')
    photos = [osp.join(PHOTO_DIR, p) for p in PHOTOS]
    samples, rows = {}, {'e2e': [], 'core': [], 'ops': []}
    tmp = tempfile.mkdtemp()
    for key in args.models:
        label, path = CONFIGS[key]
        cfg = _config(path, args.quick)
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            model = init_detector(cfg, None, device='cpu')
        pre = Preprocessor(cfg)
        inputs, sample = pre(photos[0])
        onnx_file = osp.join(tmp, osp.basename(path) + '.onnx')
        export_onnx(model, inputs, img_shape_tensor(sample), onnx_file)
        traced = DetectorExport(model).eval()
        dets = {
            e: OnnxDetector(
                onnx_file, cfg, backend=b, num_threads=torch.get_num_threads()
            )
            for e, b in ENGINES.items()
        }
        prepared = [pre(p) for p in photos]
        fns = {}
        for i, p in enumerate(photos):
            x, s = prepared[i]
            shape = img_shape_tensor(s)
            fns[('e2e', 'torch', i)] = lambda p=p: inference_detector(model, p)
            fns[('core', 'torch', i)] = lambda x=x, sh=shape: traced(x, sh)
            for e, det in dets.items():
                fns[('e2e', e, i)] = lambda p=p, det=det: det(p)
                fns[('core', e, i)] = lambda x=x, sh=shape, det=det: det.run(
                    x, sh
                )
        with torch.no_grad():
            t = common.ms(
                common.interleaved(fns, 'cpu', args.rounds, args.min_timing)
            )
        for kind in ('e2e', 'core'):
            for engine in ('torch', *ENGINES):
                samples[f'{kind}/{engine}/{key}'] = [
                    sum(r)
                    for r in zip(
                        *(t[(kind, engine, i)] for i in range(len(photos)))
                    )
                ]
            for i in range(len(photos)):
                shape = prepared[i][1].metainfo['batch_input_shape']
                pt = common.median(t[(kind, 'torch', i)])
                row = [label, PHOTOS[i], f'{shape[0]}x{shape[1]}', pt]
                for e in ENGINES:
                    ms = common.median(t[(kind, e, i)])
                    row += [ms, ms / pt]
                rows[kind].append(row)
        x, s = prepared[0]
        shares = op_shares(
            onnx_file,
            dets['onnx'].runner.feed(x, img_shape_tensor(s)),
            torch.get_num_threads(),
        )
        for op, share in shares.items():
            samples[f'ops/{key}/{op}'] = [share]
        top = list(shares.items())[:PROFILE_TOP]
        rest = 1 - sum(v for _, v in top)
        rows['ops'].append(
            [label, PHOTOS[0]]
            + [f'{op} {100 * v:.1f}%' for op, v in top]
            + [f'{100 * rest:.1f}%']
        )
    cols = [
        'model',
        'photo',
        'input',
        'PyTorch ms (median)',
        'onnxruntime ms',
        'onnxruntime / PyTorch',
        'OpenVINO ms',
        'OpenVINO / PyTorch',
    ]
    return dict(
        tables={
            'End to end: image path -> DetDataSample (masks pasted)': dict(
                columns=cols, rows=rows['e2e']
            ),
            'Network + post-processing + blender (no pipeline, no paste)':  # noqa: E501
            dict(columns=cols, rows=rows['core']),
            'onnxruntime kernel time by operator (first photo)': dict(
                columns=['model', 'photo']
                + [f'#{i + 1}' for i in range(PROFILE_TOP)]
                + ['all others'],
                rows=rows['ops'],
            ),
        },
        samples=samples,
        notes=[
            'random weights, 100 forced detections (score_thr 0, NMS '
            "IoU 1.0), each config's test scale; the graph exported on "
            'the first photo; the runtimes use as many threads as torch; '
            'OpenVINO in float32 (INFERENCE_PRECISION_HINT).'
        ],
    )
