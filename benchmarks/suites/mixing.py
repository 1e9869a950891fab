"""Mixing: one-stage hosts with our mask branch vs the hosts alone.

Each one-stage host of mmdet (ATSS, GFL, RetinaNet, FCOS, TOOD: R-50 FPN 1x
at 800x1216; RTMDet-s and YOLOX-s at 640x640) with our mask branch
(``configs/mixing/``) vs the host alone, same weights for everything they
share.

Both models are built from their configs with random init; the host's
state_dict is loaded into the mixed model and every host key must match
(only the top layer and the mask head are the mixed model's own).
Detections are forced as in the inference suite (exactly 100 per image).
Latency: ``model(inputs, samples, mode='predict')`` on one random image;
each round times every host and its mixed model back to back (pair order
swapped per round, hosts rotated) (``latency/<host>``,
``latency/blend_<host>``). GFLOPs of one inference (flop_counter). The
stage table: sequential calls of the first host's mixed model.
"""

import torch

import common
from suites.inference import stage_breakdown

ROUNDS = 5
TIMED = True
# host -> (mmdet's config, our mixing config inheriting it, input H W)
HOSTS = {
    'atss': (
        'atss/atss_r50_fpn_1x_coco.py',
        'configs/mixing/blendmask-atss_r50_fpn_1x_coco.py',
        (800, 1216),
    ),
    'gfl': (
        'gfl/gfl_r50_fpn_1x_coco.py',
        'configs/mixing/blendmask-gfl_r50_fpn_1x_coco.py',
        (800, 1216),
    ),
    'retinanet': (
        'retinanet/retinanet_r50_fpn_1x_coco.py',
        'configs/mixing/blendmask-retinanet_r50_fpn_1x_coco.py',
        (800, 1216),
    ),
    'fcos': (
        'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
        'configs/mixing/blendmask-fcos_r50-caffe_fpn_gn-head_1x_coco.py',
        (800, 1216),
    ),
    'tood': (
        'tood/tood_r50_fpn_1x_coco.py',
        'configs/mixing/blendmask-tood_r50_fpn_1x_coco.py',
        (800, 1216),
    ),
    'rtmdet': (
        'rtmdet/rtmdet_s_8xb32-300e_coco.py',
        'configs/mixing/blendmask-rtmdet_s_8xb32-300e_coco.py',
        (640, 640),
    ),
    'yolox': (
        'yolox/yolox_s_8xb8-300e_coco.py',
        'configs/mixing/blendmask-yolox_s_8xb8-300e_coco.py',
        (640, 640),
    ),
}
LABELS = {
    'atss': 'ATSS',
    'gfl': 'GFL',
    'retinanet': 'RetinaNet',
    'fcos': 'FCOS (mmdet, caffe R-50)',
    'tood': 'TOOD',
    'rtmdet': 'RTMDet-s',
    'yolox': 'YOLOX-s',
}
#: the only keys of a mixed model that its host lacks
EXTRA_PREFIXES = ('mask_head.', 'bbox_head.top_layer.')


def add_arguments(ap):
    ap.add_argument(
        '--size',
        type=int,
        nargs=2,
        help="input H W (default: each host's, see HOSTS)",
    )
    ap.add_argument(
        '--hosts', nargs='+', default=list(HOSTS), choices=list(HOSTS)
    )


def load_cfg(path: str, num_dets: int = 100):
    from mmengine.config import Config

    cfg = Config.fromfile(path)
    common.strip_init(cfg.model)
    common.force_dets(cfg.model, num_dets)
    return cfg


def build_pair(
    host: str, device: str, num_dets: int = 100, hosts: dict = HOSTS, edit=None
):
    """(host model, mixed model) of ``hosts[host]`` (its first two items:
    mmdet's config, ours) in eval mode, the mixed one carrying the host's
    weights; raises if a host key is missing from the mixed model or has
    another shape. ``edit(cfg)``, if given, changes both configs alike
    before they are built."""
    host_rel, mix_rel = hosts[host][:2]
    hcfg = load_cfg(common.mim_config(host_rel), num_dets)
    mcfg = load_cfg(common.repo_config(mix_rel), num_dets)
    for cfg in (hcfg, mcfg) if edit is not None else ():
        edit(cfg)
    if mcfg.model.bbox_head.type != 'Blend' + hcfg.model.bbox_head.type:
        raise ValueError(
            f'{mix_rel}: bbox_head {mcfg.model.bbox_head.type} '
            f'is not Blend + {hcfg.model.bbox_head.type}'
        )
    for key in ('backbone', 'neck', 'data_preprocessor'):
        h, m = dict(hcfg.model[key]), dict(mcfg.model[key])
        # the mask-aware versions of the host's training-only settings
        for train_only in ('pad_mask', 'batch_augments'):
            m.pop(train_only, None)
            h.pop(train_only, None)
        if h != m:
            raise ValueError(f'{mix_rel}: {key} differs from {host_rel}')
    hmodel = common.build_model(hcfg, device).eval()
    mmodel = common.build_model(mcfg, device).eval()
    hsd = hmodel.state_dict()
    msd = mmodel.state_dict()
    bad = [k for k in hsd if k not in msd or msd[k].shape != hsd[k].shape]
    if bad:
        raise RuntimeError(
            f'{host}: host keys not in the mixed model: {bad[:10]}'
        )
    res = mmodel.load_state_dict(hsd, strict=False)
    assert not res.unexpected_keys, res.unexpected_keys
    left = [k for k in res.missing_keys if not k.startswith(EXTRA_PREFIXES)]
    if left:
        raise RuntimeError(f'{host}: mixed keys not loaded: {left[:10]}')
    for k, v in hsd.items():  # the shared weights really are the host's
        assert torch.equal(mmodel.state_dict()[k], v), k
    return (
        hmodel,
        mmodel,
        dict(shared_keys=len(hsd), extra_keys=len(res.missing_keys)),
    )


def pair_rounds(runners, hosts, device, rounds, min_s=0.0, warmup=1):
    """Round-robin timing in adjacent pairs: each round times every host
    and its mixed model back to back (order swapped every round, hosts
    rotated), so a load change between the two timings of a pair is as
    short as one timing; a timing spans at least ``min_s`` seconds
    (:func:`common.warm_up`). Returns per-round seconds per call."""
    names = [n for h in hosts for n in (h, f'blend_{h}')]
    reps = common.warm_up(
        {n: runners[n] for n in names}, device, min_s, warmup
    )
    times = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(hosts)
        for host in hosts[k:] + hosts[:k]:
            pair = [host, f'blend_{host}'][:: 1 if r % 2 == 0 else -1]
            for n in pair:
                times[n].append(common.timeit(runners[n], device, reps[n]))
    return times


def run(args):
    if args.quick:
        args.size = [96, 96]
    dev = args.device
    runners, dets, values, keys, sizes = {}, {}, {}, {}, {}
    for host in args.hosts:
        h, w = sizes[host] = args.size or HOSTS[host][2]
        hmodel, mmodel, keys[host] = build_pair(host, dev)
        if host == args.hosts[0]:
            first = mmodel
        runners[host] = common.predictor(hmodel, h, w, dev)
        runners[f'blend_{host}'] = common.predictor(mmodel, h, w, dev)
        common.cap_dets((hmodel, mmodel), runners[host], 100)
        for name in (host, f'blend_{host}'):
            out = runners[name]()
            dets[name] = [len(o.pred_instances) for o in out]
            values[f'gflops/{name}'] = common.gflops(runners[name])
            if name.startswith('blend_'):
                masks = out[0].pred_instances.masks
                assert tuple(masks.shape[-2:]) == (h, w), masks.shape
        print(
            host,
            keys[host],
            {k: dets[k] for k in (host, f'blend_{host}')},
            flush=True,
        )
    t = common.ms(
        pair_rounds(runners, args.hosts, dev, args.rounds, args.min_timing)
    )
    samples = {f'latency/{n}': v for n, v in t.items()}
    stages = stage_breakdown(
        first, *sizes[args.hosts[0]], dev, min(3, args.rounds)
    )
    rows = []
    for host in args.hosts:
        th, tm = t[host], t[f'blend_{host}']
        rows.append(
            [
                LABELS[host],
                '{}x{}'.format(*sizes[host]),
                f"{dets[host][0]} / {dets[f'blend_{host}'][0]}",
                common.median(th),
                common.median(tm),
                common.median(tm) / common.median(th),
                values[f'gflops/blend_{host}'] / values[f'gflops/{host}'],
            ]
        )
    host_ms = common.median(t[args.hosts[0]])
    return dict(
        tables={
            'Mixed (host + BlendMask mask branch) vs host, inference': dict(
                columns=[
                    'host',
                    'input',
                    'dets host / mixed',
                    'host ms (median)',
                    'mixed ms (median)',
                    'mixed / host (medians)',
                    'FLOP ratio',
                ],
                rows=rows,
            ),
            f'Mixed {LABELS[args.hosts[0]]} per stage (ms, median of '
            'sequential calls)': dict(
                columns=['stage', 'ms', 'x host median'],
                rows=[
                    [s, common.median(v), common.median(v) / host_ms]
                    for s, v in stages.items()
                ],
            ),
        },
        samples=samples,
        values=values,
        dets=dets,
        keys=keys,
        sizes=sizes,
        notes=[
            'batch 1, one random image at the input size of the table; '
            'the add-on is basis + blender + paste and the top layer '
            'inside post-process.'
        ],
    )
