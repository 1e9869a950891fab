"""Accuracy in the light setting: coco128-seg, pretrained backbone, same
budget.

BlendMask vs CondInst, YOLACT and Mask R-CNN, the blender vs the Table 1
alternatives (weighted sum, assembler), the mixing models (BlendMask on
ATSS, Mask R-CNN + blender mask head) and the RTMDet head-to-head (mmdet's
RTMDet-Ins vs BlendMask on RTMDet), fine-tuned on coco128-seg (88 train /
22 val images).

Every model: the demo's backbone and input normalisation (:data:`BACKBONE`:
EfficientNet-Lite0 with its ImageNet weights, frozen), a 64-channel neck
(FPN; the RTMDet pair: mmdet's CSPNeXtPAFPN on P3-P5), 2-conv towers (GN;
the RTMDet pair: RTMDet's BN, and non-negative box regression for both;
Mask R-CNN: 2 mask convs, 256-d box fc),
``--size`` inputs (resized keeping the aspect ratio, padded to the square:
YOLACT needs equal-size images in a batch), random flip, batch ``--batch``,
AdamW 2e-3 (wd 0.05, grad clip 10), warm-up + cosine, ``--iters``
iterations; then mmdet's CocoMetric on the val images (the headline: does
it generalise?) and on the training images (the fit check). A round is one
seed (the seed of round r is r): samples ``<metric>/<model>`` hold one
value per seed (AP in [0, 1]). Runs of disjoint ``--models`` can be merged
(``run.py accuracy --merge A.json B.json``).
"""

import argparse
import copy
import os.path as osp
import time

import common

ROUNDS = 3
TIMED = False
MODELS = [
    'blendmask',
    'yolact',
    'mask_rcnn',
    'condinst',
    'blendmask_weighted_sum',
    'blendmask_assembler',
    'blendmask_atss',
    'mask_rcnn_blender',
    'rtmdet_ins',
    'blendmask_rtmdet',
]
METRICS = {
    'train_mask_ap': 'train mask AP',
    'train_mask_ap50': 'train mask AP50',
    'train_box_ap': 'train box AP',
    'val_mask_ap': 'val mask AP',
    'val_box_ap': 'val box AP',
}
LR = 2e-3
LABELS = {
    'blendmask': 'BlendMask (blender 28_4_7)',
    'condinst': 'CondInst',
    'yolact': 'YOLACT',
    'mask_rcnn': 'Mask R-CNN',
    'blendmask_weighted_sum': 'BlendMask, weighted sum (M=1)',
    'blendmask_assembler': 'BlendMask, assembler (K=16)',
    'blendmask_atss': 'BlendMask on ATSS (BlendATSSHead)',
    'mask_rcnn_blender': 'Mask R-CNN + blender mask head (BlendRoIHead)',
    'rtmdet_ins': 'RTMDet-Ins (RTMDetInsSepBNHead)',
    'blendmask_rtmdet': 'BlendMask on RTMDet (BlendRTMDetSepBNHead)',
}
GN = dict(type='GN', num_groups=16, requires_grad=True)
#: the demo config's backbone, its FPN input channels and its input
#: normalisation, for every model compared
_DEMO = 'configs/demo/blendmask-light_effnet-lite0_fpn_1xb8-800iter_coco128.py'


def _demo_backbone():
    from mmengine.config import Config

    cfg = Config.fromfile(common.repo_config(_DEMO))
    backbone = cfg.model.backbone.to_dict()
    backbone.pop('_delete_', None)
    return (
        backbone,
        list(cfg.model.neck.in_channels),
        cfg.model.data_preprocessor.to_dict(),
    )


BACKBONE, IN_CH, PREPROCESSOR = _demo_backbone()
C = 64  # FPN / head width
#: the arguments merged runs must share
SETTING = ('iters', 'batch', 'size', 'train_eval_subset', 'rounds')


def add_arguments(ap):
    ap.add_argument(
        '--work-dir',
        default=osp.join(common.REPO_ROOT, 'work_dirs', 'bench_acc'),
    )
    ap.add_argument('--iters', type=int, default=1000)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--size', type=int, nargs=2, default=[224, 224])
    ap.add_argument('--models', nargs='+', default=MODELS, choices=MODELS)
    ap.add_argument(
        '--train-eval-subset',
        type=int,
        default=0,
        help='evaluate the fit on the first N training images (0: all 88)',
    )


def model_cfg(name: str):
    """The ``model`` dict of one light model."""
    from mmengine.config import Config, ConfigDict

    if name == 'blendmask_atss':
        # the same light BlendMask with mmdet's ATSS head as the host
        # (configs/mixing/blendmask-atss_*: its head, assigner, test_cfg)
        m = model_cfg('blendmask')
        atss = Config.fromfile(
            common.repo_config(
                'configs/mixing/blendmask-atss_r50_fpn_1x_coco.py'
            )
        ).model
        m.bbox_head = atss.bbox_head
        m.bbox_head.update(
            in_channels=C, feat_channels=C, stacked_convs=2, norm_cfg=GN
        )
        m.train_cfg = atss.train_cfg
        m.test_cfg = atss.test_cfg
        return m
    if name in ('rtmdet_ins', 'blendmask_rtmdet'):
        # the RTMDet-s head-to-head (benchmarks/suites/rtmdet.py) in the
        # light setting: mmdet's RTMDet-Ins-s and our mixing config, each
        # on the light backbone's P3-P5 with a 64-channel CSPNeXtPAFPN and
        # 2-conv towers; both with RTMDet-Ins's test_cfg (the detector's
        # keeps 300 detections above 0.001)
        if name == 'rtmdet_ins':
            path = common.mim_config('rtmdet/rtmdet-ins_s_8xb32-300e_coco.py')
        else:
            path = common.repo_config(
                'configs/mixing/blendmask-rtmdet_s_8xb32-300e_coco.py'
            )
        m = Config.fromfile(path).model
        m.backbone = ConfigDict(BACKBONE, out_indices=(1, 2, 3))
        m.neck.update(in_channels=IN_CH[1:], out_channels=C)
        m.bbox_head.update(in_channels=C, feat_channels=C, stacked_convs=2)
        m.test_cfg.update(
            nms_pre=1000,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=100,
        )
        if name == 'blendmask_rtmdet':
            _light_blend_branch(m.mask_head)
            # the same non-negative box regression as RTMDet-Ins (ReLU):
            # mmdet's RTMDet-s regresses unconstrained distances
            # (exp_on_reg=False), which does not train in this setting,
            # with or without the mask branch (docs/mixing.md);
            # exp_on_reg=True is mmdet's RTMDet-m/l/x setting
            m.bbox_head.exp_on_reg = True
        return m
    if name.startswith('blendmask'):
        cfg = Config.fromfile(
            common.repo_config(
                'configs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py'
            )
        )
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.in_channels = IN_CH
        m.neck.out_channels = C
        # pinned (the demo config may change under us)
        m.bbox_head.update(
            in_channels=C, feat_channels=C, stacked_convs=2, norm_cfg=GN
        )
        _light_blend_branch(m.mask_head)
        if name == 'blendmask_weighted_sum':
            m.mask_head.blender.attn_size = 1
        elif name == 'blendmask_assembler':
            m.mask_head.basis.num_bases = 16
            m.mask_head.blender.update(merge='assembler', num_bases=16)
        return m
    if name == 'condinst':
        cfg = Config.fromfile(
            common.mim_config(
                'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py'
            )
        )
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.update(in_channels=IN_CH, out_channels=C)
        m.bbox_head.update(
            in_channels=C, feat_channels=C, stacked_convs=2, norm_cfg=GN
        )
        m.mask_head.mask_feature_head.update(
            in_channels=C, feat_channels=C, num_stacked_convs=2, norm_cfg=GN
        )
        return m
    if name == 'yolact':
        cfg = Config.fromfile(
            common.mim_config('yolact/yolact_r50_1xb8-55e_coco.py')
        )
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.update(in_channels=IN_CH, out_channels=C)
        # anchors at the real strides (the config's are tied to 550x550)
        m.bbox_head.update(in_channels=C, feat_channels=C)
        m.bbox_head.anchor_generator.update(
            strides=[8, 16, 32, 64, 128], centers=None
        )
        m.mask_head.update(
            in_channels=C, proto_channels=(C, C, C, None, C, 32)
        )
        return m
    if name == 'mask_rcnn':
        cfg = Config.fromfile(
            common.mim_config('mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
        )
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.update(in_channels=IN_CH, out_channels=C)
        m.rpn_head.update(in_channels=C, feat_channels=C)
        m.roi_head.bbox_roi_extractor.out_channels = C
        m.roi_head.bbox_head.update(in_channels=C, fc_out_channels=256)
        m.roi_head.mask_roi_extractor.out_channels = C
        m.roi_head.mask_head.update(
            in_channels=C, conv_out_channels=C, num_convs=2
        )
        return m
    if name == 'mask_rcnn_blender':
        # the same light Mask R-CNN with the blender as its mask head
        # (configs/mixing/mask-rcnn_r50_fpn_blender_*: its RoI and mask heads)
        m = model_cfg('mask_rcnn')
        mixed = Config.fromfile(
            common.repo_config(
                'configs/mixing/mask-rcnn_r50_fpn_blender_1x_coco.py'
            )
        ).model
        m.roi_head.type = mixed.roi_head.type
        m.roi_head.mask_head = mixed.roi_head.mask_head
        m.roi_head.mask_head.update(in_channels=C, attn_conv_channels=C)
        m.roi_head.mask_head.basis.update(
            in_channels=C,
            channels=C,
            low_level_channels=32,
            sem_channels=C,
            norm_cfg=GN,
        )
        return m
    raise KeyError(name)


def _light_blend_branch(mask_head):
    """Pin ``mask_head`` (a ``BlendMaskMaskHead`` config) to the light
    BlendMask's bottom module and blender (28_4_7)."""
    mask_head.basis.update(
        in_channels=C,
        channels=C,
        low_level_channels=32,
        sem_channels=C,
        norm_cfg=GN,
    )
    mask_head.blender.update(bottom_resolution=28, attn_size=7)


def full_cfg(name: str, seed: int, args, work_dir: str):
    from mmengine.config import Config

    cfg = Config.fromfile(
        common.repo_config(
            'configs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py'
        )
    )
    cfg.model = model_cfg(name)
    # every model normalises its input as the pretrained backbone expects
    # (RTMDet's configs keep BGR)
    cfg.model.data_preprocessor = copy.deepcopy(PREPROCESSOR)
    size, iters = tuple(args.size), args.iters
    # one pipeline for every model: the aspect ratio kept (mmdet's
    # RTMDet-Ins pastes its masks with the width's scale factor on both
    # axes, wrong after a non-uniform resize), padded to the square size
    # (YOLACT needs equal-size images in a batch)
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='LoadAnnotations',
            with_bbox=True,
            with_mask=True,
            poly2mask=False,
        ),
        dict(type='Resize', scale=size, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='Pad', size=size),
        dict(type='PackDetInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=size, keep_ratio=True),
        dict(
            type='LoadAnnotations',
            with_bbox=True,
            with_mask=True,
            poly2mask=False,
        ),
        dict(
            type='PackDetInputs',
            meta_keys=(
                'img_id',
                'img_path',
                'ori_shape',
                'img_shape',
                'scale_factor',
            ),
        ),
    ]
    cfg.train_dataloader.batch_size = args.batch
    cfg.train_dataloader.dataset.pipeline = train_pipeline
    cfg.train_dataloader.num_workers = 0 if args.quick else 1
    cfg.train_dataloader.persistent_workers = not args.quick
    if args.quick:
        cfg.train_dataloader.dataset.indices = 8
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset.pipeline = test_pipeline
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
        if args.quick:
            cfg[key].dataset.indices = 2
    cfg.work_dir = work_dir
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=LR, weight_decay=0.05),
        # bypass_duplicate: RTMDet's heads share their convs across levels
        paramwise_cfg=dict(
            norm_decay_mult=0.0, bias_decay_mult=0.0, bypass_duplicate=True
        ),
        clip_grad=dict(max_norm=10, norm_type=2),
    )
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=args.batch)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    warm = max(1, min(50, iters // 5))
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.01,
            by_epoch=False,
            begin=0,
            end=warm,
        ),
        dict(
            type='CosineAnnealingLR',
            T_max=iters,
            eta_min=1e-5,
            by_epoch=False,
            begin=0,
            end=iters,
        ),
    ]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=10**9, save_last=False
    )
    cfg.default_hooks.logger.interval = 10
    cfg.randomness = dict(seed=seed)
    cfg.custom_hooks = []
    cfg.env_cfg = dict(
        cudnn_benchmark=False,
        mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
        dist_cfg=dict(backend='gloo'),
    )
    return cfg


def evaluate(runner, cfg, ann_file: str, subset: int = 0) -> dict:
    from mmengine.runner import TestLoop

    loader = copy.deepcopy(cfg.test_dataloader)
    loader.dataset.ann_file = ann_file
    if subset:
        loader.dataset.indices = subset
    evaluator = copy.deepcopy(cfg.test_evaluator)
    evaluator.ann_file = osp.join(loader.dataset.data_root, ann_file)
    loop = TestLoop(runner, loader, evaluator)
    if subset:  # score only the evaluated images
        ds = loop.dataloader.dataset
        ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
        for metric in loop.evaluator.metrics:
            metric.img_ids = ids
    return loop.run()


def run_one(name: str, seed: int, args) -> dict:
    """Train ``name`` with ``seed``; its metrics (:data:`METRICS`) and
    seconds per iteration."""
    from mmengine.runner import Runner

    cfg = full_cfg(
        name, seed, args, osp.join(args.work_dir, f'{name}_seed{seed}')
    )
    if args.device == 'cpu':
        cfg.model_wrapper_cfg = None
    runner = Runner.from_cfg(cfg)
    t0 = time.perf_counter()
    runner.train()
    res = dict(s_per_iter=(time.perf_counter() - t0) / max(1, args.iters))
    for split, ann in (
        ('train', 'instances_train.json'),
        ('val', 'instances_val.json'),
    ):
        m = evaluate(
            runner, cfg, ann, args.train_eval_subset if split == 'train' else 0
        )
        res[f'{split}_mask_ap'] = float(m.get('coco/segm_mAP', 'nan'))
        res[f'{split}_mask_ap50'] = float(m.get('coco/segm_mAP_50', 'nan'))
        res[f'{split}_box_ap'] = float(m.get('coco/bbox_mAP', 'nan'))
    return res


def table(samples: dict) -> dict:
    """The per-model table (medians over seeds, AP in %) of ``samples``,
    rows in :data:`MODELS` order."""
    models = [m for m in MODELS if f's_per_iter/{m}' in samples]
    rows = [
        [
            LABELS[m],
            len(samples[f's_per_iter/{m}']),
            common.median(samples[f's_per_iter/{m}']),
        ]
        + [100 * common.median(samples[f'{k}/{m}']) for k in METRICS]
        for m in models
    ]
    return {
        'Accuracy (COCO AP %, median over seeds)': dict(
            columns=['model', 'seeds', 's / iter'] + list(METRICS.values()),
            rows=rows,
        )
    }


def notes(args) -> list:
    return [
        f'coco128-seg, {args.iters} iterations at batch {args.batch}, '
        f'{args.size[0]}x{args.size[1]} inputs, ImageNet-pretrained '
        f'EfficientNet-Lite0 (the demo\'s backbone); seeds 0..'
        f'{args.rounds - 1}; train = fit on the training images'
        + (
            f' (first {args.train_eval_subset})'
            if args.train_eval_subset
            else ''
        )
        + ', val = the 22 held-out images. s / iter depends on the load '
        'and is not a speed measurement.'
    ]


def run(args):
    if args.quick:
        args.iters, args.batch, args.size = 1, 2, [96, 96]
        if args.models == MODELS:
            args.models = ['blendmask']
    samples = {}
    for seed in range(args.rounds):
        for name in args.models:
            print(f'=== {name}, seed {seed} ===', flush=True)
            for k, v in run_one(name, seed, args).items():
                samples.setdefault(f'{k}/{name}', []).append(v)
    return dict(tables=table(samples), samples=samples, notes=notes(args))


def merge(payloads: list) -> dict:
    """One result of the accuracy runs ``payloads`` (result jsons) of
    disjoint ``--models`` in the same setting and at the same commit: their
    samples together, the first run's stamp with every run's in
    ``stamp['merged']`` (loaded if any was)."""
    first = payloads[0]
    for p in payloads:
        if p['stamp']['suite'] != 'accuracy':
            raise ValueError(f"--merge: {p['name']} is not an accuracy run")
        for key in SETTING + ('quick',):
            if p['args'][key] != first['args'][key]:
                raise ValueError(f'--merge: the runs differ in {key}')
        if p['stamp']['commit'] != first['stamp']['commit']:
            raise ValueError('--merge: the runs are of different commits')
    samples = {}
    for p in payloads:
        for k, v in p['samples'].items():
            if k in samples:
                raise ValueError(f'--merge: {k} is in two runs')
            samples[k] = v
    stamp = dict(first['stamp'], merged=[p['stamp'] for p in payloads])
    stamp['loaded'] = any(p['stamp']['loaded'] for p in payloads)
    args = dict(
        first['args'],
        models=[m for m in MODELS if f's_per_iter/{m}' in samples],
    )
    return dict(
        stamp=stamp,
        args=args,
        tables=table(samples),
        samples=samples,
        notes=notes(argparse.Namespace(**args)),
    )
