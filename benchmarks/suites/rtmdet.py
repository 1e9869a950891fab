"""RTMDet head-to-head: BlendMask on RTMDet-s vs RTMDet-s and RTMDet-Ins-s.

Three models from configs (random init): mmdet's detector
``rtmdet_s_8xb32-300e_coco.py``, our ``configs/mixing/blendmask-rtmdet_s_
8xb32-300e_coco.py`` (the same detector + BlendMask's mask branch) and mmdet's
instance segmenter ``rtmdet-ins_s_8xb32-300e_coco.py``. The mixed model and
RTMDet-Ins carry the detector's weights wherever their keys match (backbone,
neck, and for the mixed model the whole host head), so only the mask branches
differ. Detections are forced (100 per image). Measured at 640x640:

* parameters and GFLOPs (inference, one image) of each model and of each
  mask branch (the model minus RTMDet-s);
* inference latency, interleaved rounds (``latency/<model>``);
* one training step (batch 2, 5 random rectangle GT per image) per round
  (``train/<model>``) and the peak training memory in a fresh process.

Accuracy (the light setting, train and val mask AP) is the accuracy suite's
(``--models rtmdet_ins blendmask_rtmdet``).
"""

import common

ROUNDS = 5
TIMED = True
MODELS = {
    'rtmdet_s': (
        'RTMDet-s (detector)',
        'mim',
        'rtmdet/rtmdet_s_8xb32-300e_coco.py',
    ),
    'blend_rtmdet_s': (
        'BlendMask on RTMDet-s',
        'repo',
        'configs/mixing/blendmask-rtmdet_s_8xb32-300e_coco.py',
    ),
    'rtmdet_ins_s': (
        'RTMDet-Ins-s',
        'mim',
        'rtmdet/rtmdet-ins_s_8xb32-300e_coco.py',
    ),
}


def add_arguments(ap):
    ap.add_argument(
        '--size', type=int, nargs=2, default=[640, 640], help='input H W'
    )


def load_cfg(name: str):
    from mmengine.config import Config

    _, where, rel = MODELS[name]
    path = (
        common.mim_config(rel) if where == 'mim' else common.repo_config(rel)
    )
    cfg = Config.fromfile(path)
    common.strip_init(cfg.model)
    common.force_dets(cfg.model, 100)
    return cfg


def build_all(device: str) -> dict:
    """The three models in eval mode, the detector's weights copied into the
    others wherever a key and shape match; returns ``{name: (model,
    copied keys)}``."""
    models = {
        n: common.build_model(load_cfg(n), device).eval() for n in MODELS
    }
    ref = models['rtmdet_s'].state_dict()
    out = {'rtmdet_s': (models['rtmdet_s'], len(ref))}
    for name in ('blend_rtmdet_s', 'rtmdet_ins_s'):
        sd = models[name].state_dict()
        shared = {
            k: v for k, v in ref.items() if k in sd and sd[k].shape == v.shape
        }
        models[name].load_state_dict(shared, strict=False)
        out[name] = (models[name], len(shared))
    mixed = models['blend_rtmdet_s'].state_dict()
    missing = [k for k in ref if k not in mixed]
    if missing:  # the mixed model is the detector + its mask branch
        raise RuntimeError(
            f'detector keys missing from the mixed model: {missing[:10]}'
        )
    return out


def train_factory(name: str, h: int, w: int, device: str):
    """One training step of ``name`` (for the peak-memory child)."""
    return common.train_step(
        load_cfg(name), (h, w), 2, device, with_masks=name != 'rtmdet_s'
    )


def run(args):
    if args.quick:
        args.size = [64, 64]
    dev, (h, w) = args.device, args.size
    built = build_all(dev)
    values, fns, rows = {}, {}, []
    for name, (model, copied) in built.items():
        values[f'params_m/{name}'] = (
            sum(p.numel() for p in model.parameters()) / 1e6
        )
        fns[('latency', name)] = common.predictor(model, h, w, dev)
        dets = len(fns[('latency', name)]()[0].pred_instances)
        if dets != 100:
            raise RuntimeError(
                f'{name}: {dets} detections, not the forced 100'
            )
        values[f'gflops/{name}'] = common.gflops(fns[('latency', name)])
        fns[('train', name)] = train_factory(name, h, w, dev)
        values[f'copied_keys/{name}'] = copied
    for name in ('blend_rtmdet_s', 'rtmdet_ins_s'):  # the mask branches
        for k in ('params_m', 'gflops'):
            values[f'{k}/branch_{name}'] = (
                values[f'{k}/{name}'] - values[f'{k}/rtmdet_s']
            )
    t = common.ms(common.interleaved(fns, dev, args.rounds, args.min_timing))
    samples = {f'{kind}/{name}': v for (kind, name), v in t.items()}
    for name in MODELS:
        values[f'train_peak_mib/{name}'] = (
            float('nan')
            if args.quick
            else common.child_peak_mib(
                'rtmdet', 'train_factory', [name, h, w, dev], dev, args.threads
            )
        )
    base = {k: common.median(t[(k, 'rtmdet_s')]) for k in ('latency', 'train')}
    for name, (label, _, _) in MODELS.items():
        lat, tr = (common.median(t[(k, name)]) for k in ('latency', 'train'))
        branch = name != 'rtmdet_s'
        rows.append(
            [
                label,
                values[f'params_m/{name}'],
                values[f'gflops/{name}'],
                values[f'params_m/branch_{name}'] if branch else '-',
                values[f'gflops/branch_{name}'] if branch else '-',
                lat,
                lat / base['latency'],
                tr,
                tr / base['train'],
                values[f'train_peak_mib/{name}'],
            ]
        )
    return dict(
        tables={
            f'RTMDet-s, BlendMask on RTMDet-s and RTMDet-Ins-s, {h}x{w}': dict(
                columns=[
                    'model',
                    'params (M)',
                    'GFLOPs',
                    'mask branch params (M)',
                    'mask branch GFLOPs',
                    'inference ms (median)',
                    'x RTMDet-s',
                    'train step ms (median)',
                    'x RTMDet-s',
                    'peak train MiB',
                ],
                rows=rows,
            )
        },
        samples=samples,
        values=values,
        notes=[
            f'input {h}x{w}; inference batch 1 with 100 forced '
            'detections; training batch 2 with 5 random rectangle GT per '
            "image; the detector's weights copied into the others where "
            'keys match.'
        ],
    )
