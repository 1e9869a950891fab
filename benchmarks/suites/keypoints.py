"""Keypoints: the keypoint branch's parameters and FLOPs; AP in a budget.

Cost (deterministic, ``values``): the candidate keypoint designs at the
R-50 scale (top layer on the 256-channel box tower, bottom module
DeepLabV3+ width 128 on P3+P5, 56 x 56 heatmaps) and the chosen keypoint
branch next to the mask branch of
``configs/keypoints/blendmask-kp_r50_fpn_ms-3x_coco-person-keypoints.py``,
at ``--people`` person boxes on one ``--size`` image. FLOPs: 2 x
multiply-adds of convolutions/matmuls (``common.gflops``) of the bottom
module and of the top layer at the detections (BlendMask evaluates it
there only); the blend (elementwise) is counted by hand; RoIAlign, the
mask paste and the keypoint decoding are not counted.

Accuracy (``samples``, one value per round; round r is seed r):
the light keypoint config (``SMALL`` below) trained from
scratch for ``--iters`` iterations (the config's 1200) on the 28
coco-mini-keypoints training photos, then box, mask and keypoint AP on
those photos (fit) and on the 32 held-out val photos (from scratch on 28
photos nothing generalises: val AP near 0 is expected). The first seed's
model draws ``--picture`` (four training photos, 2 x 2, through mmdet's
``DetInferencer``, what ``tools/image_demo.py`` runs).
"""

import copy
import os.path as osp

import common

ROUNDS = 3
TIMED = False
SMALL = (
    'configs/keypoints/'
    'blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py'
)
R50 = 'configs/keypoints/blendmask-kp_r50_fpn_ms-3x_coco-person-keypoints.py'
DATA = osp.join(
    common.REPO_ROOT, '..', 'shared', 'data', 'coco-mini-keypoints'
)
J = 17
# key -> (label, shared_bases, shared_attention, bases K per keypoint, M)
DESIGNS = {
    'shared_m14': (
        'shared 4 bases, attention per keypoint, M=14',
        True,
        False,
        4,
        14,
    ),
    'shared_m7': (
        'shared 4 bases, attention per keypoint, M=7',
        True,
        False,
        4,
        7,
    ),
    'kp_bases_m14': (
        '17x4 keypoint bases, one shared attention, M=14 (chosen)',
        False,
        True,
        4,
        14,
    ),
    'kp_bases_m7': (
        '17x4 keypoint bases, one shared attention, M=7',
        False,
        True,
        4,
        7,
    ),
    'kp_bases_per_kp_m2': (
        '17x4 keypoint bases, attention per keypoint, M=2',
        False,
        False,
        4,
        2,
    ),
}
METRICS = {
    'train_keypoints_ap': ('train', 'keypoints_mAP'),
    'train_keypoints_ap50': ('train', 'keypoints_mAP_50'),
    'train_mask_ap': ('train', 'segm_mAP'),
    'train_box_ap': ('train', 'bbox_mAP'),
    'val_keypoints_ap': ('val', 'keypoints_mAP'),
    'val_mask_ap': ('val', 'segm_mAP'),
    'val_box_ap': ('val', 'bbox_mAP'),
}
PICTURE_IDS = ('000000535506', '000000000790', '000000442450', '000000129648')


def add_arguments(ap):
    ap.add_argument(
        '--iters',
        type=int,
        default=0,
        help="training iterations (0: the config's)",
    )
    ap.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=[800, 1216],
        help='cost: input H W',
    )
    ap.add_argument(
        '--people', type=int, default=20, help='cost: person boxes'
    )
    ap.add_argument(
        '--work-dir',
        default=osp.join(common.REPO_ROOT, 'work_dirs', 'bench_keypoints'),
    )
    ap.add_argument(
        '--picture',
        default=osp.join(common.REPO_ROOT, 'docs', 'keypoints_train.jpg'),
        help='where the first seed draws its predictions',
    )


# ----------------------------------------------------------------- cost --
def r50_model(device: str = 'cpu'):
    from mmengine.config import Config

    cfg = Config.fromfile(common.repo_config(R50))
    common.strip_init(cfg.model)
    return common.build_model(cfg, device).eval()


def people(n: int, h: int, w: int, seed: int = 0):
    """``n`` person-shaped boxes (heights 100-400 px, width 0.4 x height,
    scaled down for small images) inside an ``h x w`` image,
    reproducible."""
    import torch

    g = torch.Generator().manual_seed(seed)
    scale = min(1.0, h / 800)
    bh = scale * (100 + 300 * torch.rand(n, generator=g))
    bw = 0.4 * bh
    x1 = (w - bw) * torch.rand(n, generator=g)
    y1 = (h - bh) * torch.rand(n, generator=g)
    return torch.stack([x1, y1, x1 + bw, y1 + bh], dim=1)


def branch_inputs(model, h: int, w: int, device: str, n: int):
    """(features, samples, detections for the mask head, for the keypoint
    head): the shared part of inference, once, with ``n`` person boxes
    whose attentions are the top layer's at ``n`` locations."""
    import torch
    from mmengine.structures import InstanceData

    inputs, samples = common.fake_batch(model, 1, h, w, device)
    with torch.no_grad():
        x = model.extract_feat(inputs)
        towers = model.bbox_head.forward(x)[0]
        locations = sum(t.shape[-2] * t.shape[-1] for t in towers)
        priors = torch.randperm(
            locations, generator=torch.Generator().manual_seed(1)
        )[:n]
        attns = model.bbox_head.attns_at(
            [t[0] for t in towers], priors.to(device)
        )
    det = InstanceData(
        bboxes=people(n, h, w).to(device),
        scores=torch.rand(n, device=device),
        labels=torch.zeros(n, dtype=torch.long, device=device),
        attns=attns,
    )
    mask_dets, keypoint_dets = model.split_attns([det])
    return x, samples, mask_dets, keypoint_dets


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def top_layer(tower_channels: int, channels: int, n: int):
    """(parameters, GFLOPs at ``n`` detections) of ``channels`` outputs of
    the 3x3 top layer (a ``[n, 9C] x [9C, channels]`` matmul)."""
    return channels * (
        9 * tower_channels + 1
    ), 2e-9 * n * 9 * tower_channels * channels


def blend_gflops(n: int, maps: int, K: int, R: int) -> float:
    """The blend by hand: ``maps`` R x R maps per instance, each a sum of K
    weighted crops (multiply + add)."""
    return 2e-9 * n * maps * K * R * R


def cost(args) -> tuple:
    """(values, tables) of the designs and the two branches."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.config import Config

    model = r50_model()
    C = model.bbox_head.top_layer.in_channels
    h, w = args.size
    n = args.people
    x, samples, mask_dets, kp_dets = branch_inputs(model, h, w, 'cpu', n)
    base = Config.fromfile(common.repo_config(R50)).model.keypoint_head
    values, rows = {}, []
    for key, (label, shared_b, shared_a, K, M) in DESIGNS.items():
        cfg = copy.deepcopy(base)
        cfg.basis.num_bases = K if shared_b else J * K
        cfg.blender.update(
            shared_bases=shared_b, shared_attention=shared_a, attn_size=M
        )
        head = MODELS.build(cfg).eval()
        ch = head.blender.attn_channels
        top_params, top_gflops = top_layer(C, ch, n)
        with torch.no_grad():
            bottom = common.gflops(lambda: head(x))
        d = {
            'attn_channels': ch,
            'top_params': top_params,
            'bottom_params': n_params(head),
            'top_gflops': top_gflops,
            'bottom_gflops': bottom,
            'blend_gflops': blend_gflops(
                n, J, K, head.blender.bottom_resolution
            ),
        }
        values.update({f'{k}/{key}': v for k, v in d.items()})
        rows.append(
            [
                label,
                ch,
                top_params / 1e6,
                d['bottom_params'] / 1e6,
                top_gflops,
                bottom,
                d['blend_gflops'],
            ]
        )
    branch_rows = []
    for key, head, dets, maps, K in (
        (
            'mask',
            model.mask_head,
            mask_dets,
            1,
            model.mask_head.blender.num_bases,
        ),
        (
            'keypoint',
            model.keypoint_head,
            kp_dets,
            J,
            model.keypoint_head.blender.bases_per_keypoint,
        ),
    ):
        top_params, top_gflops = top_layer(C, head.blender.attn_channels, n)

        def predict(head=head, dets=dets):
            with torch.no_grad():
                head.predict(x, samples, results_list=copy.deepcopy(dets))

        d = {
            'top_params': top_params,
            'head_params': n_params(head),
            'gflops': top_gflops + common.gflops(predict),
            'blend_gflops': blend_gflops(
                n, maps, K, head.blender.bottom_resolution
            ),
        }
        values.update({f'branch_{k}/{key}': v for k, v in d.items()})
        branch_rows.append(
            [
                key,
                top_params / 1e6,
                d['head_params'] / 1e6,
                d['gflops'],
                d['blend_gflops'],
            ]
        )
    values['gflops/backbone_neck'] = common.gflops(
        lambda: model.extract_feat(common.fake_batch(model, 1, h, w, 'cpu')[0])
    )
    tables = {
        f'Keypoint designs at R-50 (top layer on {C} channels, {n} people, '
        f'{h}x{w})': dict(
            columns=[
                'design',
                'top-layer channels',
                'top-layer params (M)',
                'bottom + blender params (M)',
                'top GFLOPs',
                'bottom GFLOPs',
                'blend GFLOPs (by hand)',
            ],
            rows=rows,
        ),
        f'Keypoint branch vs mask branch ({n} people, {h}x{w})': dict(
            columns=[
                'branch',
                'top-layer params (M)',
                'head params (M)',
                'GFLOPs (top layer at the detections + head)',
                'blend GFLOPs (by hand)',
            ],
            rows=branch_rows,
        ),
    }
    return values, tables


# -------------------------------------------------------------- accuracy --
def train_cfg(seed: int, args, work_dir: str):
    from mmengine.config import Config

    cfg = Config.fromfile(common.repo_config(SMALL))
    iters = args.iters or cfg.train_cfg.max_iters
    cfg.merge_from_dict(
        dict(
            work_dir=work_dir, log_level='WARNING', randomness=dict(seed=seed)
        )
    )
    cfg.train_cfg.update(max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler[-1].update(T_max=iters, end=iters)
    cfg.default_hooks.checkpoint.interval = iters
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = DATA + '/'
        if args.quick:  # 4 photos, no background workers
            cfg[key].update(num_workers=0, persistent_workers=False)
            cfg[key].dataset.indices = 4
    if args.quick:  # 2 iterations: keep the detections so AP runs
        cfg.train_dataloader.batch_size = 2
        cfg.model.test_cfg.score_thr = 0.0
    return cfg, iters


def run_one(seed: int, args) -> dict:
    """Train one seed, then evaluate on both splits; ``{metric: AP}``."""
    from mmengine.runner import Runner

    work = osp.join(args.work_dir, f'seed{seed}')
    cfg, iters = train_cfg(seed, args, work)
    Runner.from_cfg(cfg).train()
    out = {}
    for split, prefix in (('train', 'train2017'), ('val', 'val2017')):
        test = copy.deepcopy(cfg)
        test.test_dataloader.dataset.update(
            ann_file=f'person_keypoints_{split}.json',
            data_prefix=dict(img=f'images/{prefix}/'),
        )
        test.test_evaluator.ann_file = osp.join(
            DATA, f'person_keypoints_{split}.json'
        )
        test.load_from = osp.join(work, f'iter_{iters}.pth')
        test.work_dir = osp.join(work, f'test_{split}')
        metrics = Runner.from_cfg(test).test()
        for key, (s, name) in METRICS.items():
            if s == split:  # no detection at all: mmdet reports no AP
                out[key] = metrics.get(f'coco/{name}', 0.0)
    if seed == 0:
        draw(osp.join(work, f'iter_{iters}.pth'), args)
    return out


def draw(checkpoint: str, args) -> None:
    """The model's predictions on training photos, tiled 2 x 2 (one row
    with ``--quick``), to ``args.picture``."""
    import mmcv
    import numpy as np
    from mmdet.apis import DetInferencer

    inferencer = DetInferencer(
        model=common.repo_config(SMALL), weights=checkpoint, device=args.device
    )
    photos = [
        osp.join(DATA, 'images', 'train2017', f'{i}.jpg')
        for i in PICTURE_IDS[: 2 if args.quick else 4]
    ]
    out = inferencer(
        photos,
        pred_score_thr=0.3,
        return_vis=True,
        no_save_vis=True,
        no_save_pred=True,
    )
    tiles = [
        mmcv.imrescale(v, 360 / v.shape[0])  # 360 px high
        for v in out['visualization']
    ]
    rows = [
        np.concatenate(tiles[i : i + 2], axis=1)
        for i in range(0, len(tiles), 2)
    ]
    width = max(r.shape[1] for r in rows)
    rows = [
        np.pad(
            r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255
        )
        for r in rows
    ]
    mmcv.imwrite(
        np.concatenate(rows, axis=0)[..., ::-1], args.picture, params=[1, 85]
    )  # RGB -> BGR, JPEG quality 85


def run(args):
    if args.quick:
        args.iters, args.size, args.people = 2, [256, 384], 4
        args.picture = osp.join(args.out, 'keypoints_train-quick.jpg')
    values, tables = cost(args)
    samples = {}
    for seed in range(args.rounds):
        for k, v in run_one(seed, args).items():
            samples.setdefault(k, []).append(v)
    tables[
        'Keypoint, mask and box AP after a fixed budget, from scratch '
        '(median over seeds)'
    ] = dict(
        columns=['split', 'keypoint AP', 'keypoint AP50', 'mask AP', 'box AP'],
        rows=[
            [split]
            + [
                common.median(samples[k]) if k in samples else float('nan')
                for k in (
                    f'{split}_keypoints_ap',
                    f'{split}_keypoints_ap50',
                    f'{split}_mask_ap',
                    f'{split}_box_ap',
                )
            ]
            for split in ('train', 'val')
        ],
    )
    iters = train_cfg(0, args, '')[1]
    notes = [
        f'{SMALL}: {iters} iterations from scratch on the 28 '
        f'coco-mini-keypoints training photos, seeds 0..{args.rounds - 1}; '
        'train = fit on those photos, val = the 32 held-out photos (from '
        'scratch on 28 photos val AP near 0 is expected).',
        f'Cost: random weights, {args.people} person boxes on one '
        f'{args.size[0]}x{args.size[1]} image; the shared-bases designs '
        "could read the mask branch's 4 bases instead of their own bottom "
        'module (built here at the same width to compare like with like).',
        f'Picture of seed 0: {osp.relpath(args.picture, common.REPO_ROOT)}.',
    ]
    return dict(tables=tables, samples=samples, values=values, notes=notes)
