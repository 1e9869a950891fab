"""Query-based hosts: DINO (and Deformable DETR) with our mask branch vs alone.

mmdet's DINO 4-scale R-50 (and two-stage Deformable DETR with box
refinement) with our mask branch (``configs/mixing/blendmask-dino-*``,
``blendmask-deformable-detr-*``) vs the host alone, same weights for
everything they share (``suites.mixing.build_pair``: the host's
state_dict loaded, every host key matched; only the top layer and the mask
head are the mixed model's own). Both return ``max_per_img=100``
detections (a DETR head returns its top 100 over queries x classes, no
threshold), the mixed one also 100 image-size masks. Latency:
``model(inputs, samples, mode='predict')`` on one random image, each host
and its mixed model back to back per round (``latency/<host>``,
``latency/blend_<host>``). GFLOPs of one inference (``gflops/...``). The
branch: parameters of the mask head and the top layer, GFLOPs of the mask
head and the top layer (``gflops/mask_head/<host>``,
``gflops/top_layer/<host>``). Stages of each mixed model over sequential
calls (``stage/<host>/<stage>``): backbone, neck, encoder, encoder
proposals, decoder, box head (its post-processing), and the add-on
(basis, top layer at the detections, blender, paste); the blender's and
the whole add-on's time over the decoder's are tabled.
"""

import common
from suites.inference import StageTimer, stage_breakdown
from suites.mixing import build_pair, pair_rounds

ROUNDS = 5
TIMED = True
# host -> (mmdet's config, our mixing config inheriting it)
HOSTS = {
    'dino': (
        'dino/dino-4scale_r50_8xb2-12e_coco.py',
        'configs/mixing/blendmask-dino-4scale_r50_8xb2-12e_coco.py',
    ),
    'deformable_detr': (
        'deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_'
        'coco.py',
        'configs/mixing/blendmask-deformable-detr-refine-twostage_r50_'
        '16xb2-50e_coco.py',
    ),
}
LABELS = {
    'dino': 'DINO 4-scale R-50',
    'deformable_detr': 'Deformable DETR two-stage refine R-50',
}
STAGES = [
    'backbone',
    'neck',
    'encoder',
    'encoder proposals',
    'decoder',
    'box head',
    'basis',
    'top layer',
    'blender',
    'paste',
    'other',
]
ADD_ON = ('basis', 'top layer', 'blender', 'paste')


def add_arguments(ap):
    ap.add_argument(
        '--size', type=int, nargs=2, default=[800, 1216], help='input H W'
    )
    ap.add_argument(
        '--hosts', nargs='+', default=list(HOSTS), choices=list(HOSTS)
    )


def smoke_model(cfg) -> None:
    """``--quick``: 100 queries, one encoder and one decoder layer (DINO's
    two-stage selection needs as many encoder tokens as queries, which a
    tiny input lacks at 900)."""
    cfg.model.num_queries = 100
    cfg.model.encoder.num_layers = 1
    cfg.model.decoder.num_layers = 1


class DetrStageTimer(StageTimer):
    """The stages of a mixed DETR-style model's predict call."""

    def __init__(self, model, device):
        import mmblend.models.dense_heads.blendmask_mask_head as mh

        super().__init__(model, device)
        self.targets = [
            (model.backbone, 'forward', 'backbone'),
            (model.neck, 'forward', 'neck'),
            (model, 'forward_encoder', 'encoder'),
            (model, 'pre_decoder', 'encoder proposals'),
            (model, 'forward_decoder', 'decoder'),
            (model.bbox_head, 'predict', 'box head'),
            (model.bbox_head, 'attentions', 'top layer'),
            (model.mask_head.basis, 'forward', 'basis'),
            (model.mask_head.blender, 'forward', 'blender'),
            (mh, 'paste_masks', 'paste'),
        ]


def branch_cost(model, run) -> dict:
    """Parameters (M) and GFLOPs of one ``run()`` of the mixed model's
    mask head and top layer."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        run()
    counts = fc.get_flop_counts()
    root = type(model).__name__
    out = {}
    for key, module, name in (
        ('mask_head', model.mask_head, f'{root}.mask_head'),
        (
            'top_layer',
            model.bbox_head.top_layer,
            f'{root}.bbox_head.top_layer',
        ),
    ):
        out[f'mparams/{key}'] = (
            sum(p.numel() for p in module.parameters()) / 1e6
        )
        out[f'gflops/{key}'] = sum(counts.get(name, {}).values()) / 1e9
    return out


def run(args):
    edit = None
    if args.quick:
        args.size, edit = [96, 128], smoke_model
    dev = args.device
    h, w = args.size
    runners, dets, values, keys, mixed = {}, {}, {}, {}, {}
    for host in args.hosts:
        hmodel, mmodel, keys[host] = build_pair(
            host, dev, hosts=HOSTS, edit=edit
        )
        mixed[host] = mmodel
        for name, model in ((host, hmodel), (f'blend_{host}', mmodel)):
            runners[name] = common.predictor(model, h, w, dev)
            out = runners[name]()
            dets[name] = [len(o.pred_instances) for o in out]
            values[f'gflops/{name}'] = common.gflops(runners[name])
        masks = out[0].pred_instances.masks
        assert tuple(masks.shape[-2:]) == (h, w), masks.shape
        for k, v in branch_cost(mmodel, runners[f'blend_{host}']).items():
            values[f'{k}/{host}'] = v
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
    rows, branch_rows, stage_tables = [], [], {}
    for host in args.hosts:
        stages = stage_breakdown(
            mixed[host], h, w, dev, min(3, args.rounds), DetrStageTimer, STAGES
        )
        for s, v in stages.items():
            samples[f'stage/{host}/{s}'] = v
        st = {s: common.median(v) for s, v in stages.items()}
        th, tm = t[host], t[f'blend_{host}']
        rows.append(
            [
                LABELS[host],
                f"{dets[host][0]} / {dets[f'blend_{host}'][0]}",
                common.median(th),
                common.median(tm),
                common.median(tm) / common.median(th),
                values[f'gflops/blend_{host}'] / values[f'gflops/{host}'],
            ]
        )
        branch_rows.append(
            [
                LABELS[host],
                values[f'mparams/mask_head/{host}'],
                values[f'mparams/top_layer/{host}'],
                values[f'gflops/mask_head/{host}'],
                values[f'gflops/top_layer/{host}'],
                values[f'gflops/blend_{host}'] - values[f'gflops/{host}'],
                st['blender'] / st['decoder'],
                sum(st[s] for s in ADD_ON) / st['decoder'],
            ]
        )
        host_ms = common.median(th)
        stage_tables[
            f'Mixed {LABELS[host]} per stage (ms, median of sequential calls)'
        ] = dict(
            columns=['stage', 'ms', 'x host median'],
            rows=[[s, v, v / host_ms] for s, v in st.items()],
        )
    return dict(
        tables={
            'Mixed (host + BlendMask mask branch) vs host, inference': dict(
                columns=[
                    'host',
                    'dets host / mixed',
                    'host ms (median)',
                    'mixed ms (median)',
                    'mixed / host (medians)',
                    'FLOP ratio',
                ],
                rows=rows,
            ),
            'The mask branch: parameters, FLOPs, time vs the decoder': dict(
                columns=[
                    'host',
                    'mask head M params',
                    'top layer M params',
                    'mask head GFLOPs',
                    'top layer GFLOPs',
                    'mixed - host GFLOPs',
                    'blender / decoder (time)',
                    'add-on / decoder (time)',
                ],
                rows=branch_rows,
            ),
            **stage_tables,
        },
        samples=samples,
        values=values,
        dets=dets,
        keys=keys,
        notes=[
            f'input {h}x{w}, batch 1, one random image; 100 detections '
            'per image (max_per_img; the score_thr/nms keys '
            'common.force_dets adds are not read by DETR heads); the '
            'add-on is basis + top layer + blender + paste; GFLOPs count '
            'convolutions and matmuls only (not RoIAlign, grid_sample, '
            'the blender\'s element-wise merge).'
        ]
        + (
            ['QUICK: 100 queries, 1 encoder and 1 decoder layer.']
            if args.quick
            else []
        ),
    )
