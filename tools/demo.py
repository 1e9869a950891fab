"""`make demo`: train BlendMask on the bundled coco128-seg photos on a CPU,
evaluate it on its training images (does it fit?) and on the held-out val
images (does it generalise?), and save pictures of predicted masks.

    python tools/demo.py                 # ~22 min of CPU on one core
    python tools/demo.py --long          # 4x the iterations
    python tools/demo.py --iters 50      # a quick smoke run
    python tools/demo.py --config \
        configs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py
                                         # the variant without ImageNet
                                         # weights (from scratch)

Outputs under --work-dir (default work_dirs/demo): the checkpoint, logs,
``metrics.json``, ``vis/{train,val}/*.jpg`` (one photo each: ground truth
left, prediction right, score threshold in the titles, class colours in a
legend), ``vis/{train,val}_sheet.jpg`` (the first ``--sheet-rows`` photos
of the split in one picture) and ``vis/bases_panel.png`` (bases, attentions
and masks of a training photo, see tools/analysis_tools/vis_bases.py).
``--checkpoint CKPT`` evaluates and draws a trained model
without training; ``--cfg-options`` overrides config keys as in mmdet's
tools (e.g. ``model.test_cfg.clip_after_mask=True`` evaluates a checkpoint
in AdelaiDet's box-clipping order).
"""

import argparse
import copy
import json
import os.path as osp
import sys
import time

_REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner, TestLoop  # noqa: E402

import mmblend  # noqa: E402,F401

DEFAULT_CONFIG = osp.join(
    _REPO_ROOT,
    'configs',
    'demo',
    'blendmask-light_effnet-lite0_fpn_1xb8-800iter_coco128.py',
)
METRIC_KEYS = [
    ('bbox', 'coco/bbox_mAP'),
    ('bbox AP50', 'coco/bbox_mAP_50'),
    ('mask', 'coco/segm_mAP'),
    ('mask AP50', 'coco/segm_mAP_50'),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--iters', type=int, help='training iterations')
    parser.add_argument(
        '--long',
        action='store_true',
        help='train 4x longer than the config says',
    )
    parser.add_argument(
        '--num-vis', type=int, default=6, help='images of each split to draw'
    )
    parser.add_argument(
        '--sheet-rows',
        type=int,
        default=3,
        help='photos in vis/{train,val}_sheet.jpg',
    )
    parser.add_argument(
        '--seed', type=int, help='random seed (default: the config\'s)'
    )
    parser.add_argument(
        '--checkpoint', help='skip training: evaluate and draw this checkpoint'
    )
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='score threshold of the pictures',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys (key=value), as in mmdet\'s tools',
    )
    return parser.parse_args(argv)


def set_iters(cfg: Config, iters: int) -> None:
    """Change the schedule length, scaling every scheduler with it."""
    old = cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = iters
    # IterBasedTrainLoop validates at its last iteration whatever
    # val_interval says; the demo evaluates both splits itself afterwards,
    # so an in-training validation would only repeat the val one.
    cfg.train_cfg.val_interval = iters + 1
    cfg.train_cfg.val_begin = iters + 1
    for sched in cfg.param_scheduler:
        if sched.get('end') == old:
            sched.end = iters
        if sched.get('T_max') == old:
            sched.T_max = iters
    cfg.default_hooks.checkpoint.interval = iters


def evaluate(runner: Runner, cfg: Config, ann_file: str) -> dict:
    """COCO bbox + segm metrics of the trained model on ``ann_file``."""
    loader = copy.deepcopy(cfg.test_dataloader)
    loader.dataset.ann_file = ann_file
    loader.persistent_workers = False
    evaluator = copy.deepcopy(cfg.test_evaluator)
    evaluator.ann_file = osp.join(loader.dataset.data_root, ann_file)
    return TestLoop(runner, loader, evaluator).run()


def draw(
    runner: Runner,
    cfg: Config,
    ann_file: str,
    out_dir: str,
    num: int,
    score_thr: float,
    title: str,
    sheet_rows: int,
) -> list:
    """Ground truth (left) beside prediction (right) of the first ``num``
    images of ``ann_file``: one picture per image in ``out_dir`` and the
    first ``sheet_rows`` of them in ``<out_dir>_sheet.jpg`` (written first,
    then the single pictures)."""
    import mmcv

    from mmblend.visualization import (
        Sample,
        class_colors,
        draw_comparison,
        save_figure,
    )

    loader = copy.deepcopy(cfg.test_dataloader)
    loader.dataset.ann_file = ann_file
    loader.batch_size = 1
    loader.persistent_workers = False
    loader = runner.build_dataloader(loader)
    meta = loader.dataset.metainfo
    names = meta['classes']
    colors = class_colors(len(names), meta.get('palette'))
    model = runner.model
    model.eval()
    samples = []
    for i, batch in enumerate(loader):
        if i >= num:
            break
        result = model.test_step(batch)[0]
        samples.append(
            Sample(
                osp.basename(result.img_path),
                mmcv.imread(result.img_path, channel_order='rgb'),
                result.gt_instances,
                result.pred_instances,
            )
        )
    written = []
    if samples and sheet_rows > 0:
        written.append(
            save_figure(
                draw_comparison(
                    samples[:sheet_rows], colors, names, score_thr, title
                ),
                out_dir.rstrip('/') + '_sheet.jpg',
            )
        )
    for s in samples:
        written.append(
            save_figure(
                draw_comparison([s], colors, names, score_thr, title),
                osp.join(out_dir, s.name),
            )
        )
    return written


# The training photo of the bases panel (two giraffes: large, distinct
# instances; README "Demo").
BASES_PHOTO = '000000000025.jpg'


def draw_bases(
    runner: Runner,
    cfg: Config,
    ann_file: str,
    out_file: str,
    score_thr: float,
    photo: str = BASES_PHOTO,
) -> str:
    """The bases/attentions panel (mmblend.visualization) of ``photo``, an
    image of ``ann_file``."""
    from mmblend.visualization import make_panel

    dataset = cfg.test_dataloader.dataset
    with open(osp.join(dataset.data_root, ann_file)) as f:
        names = {im['file_name'] for im in json.load(f)['images']}
    if photo not in names:
        raise FileNotFoundError(
            f'{photo} is not an image of {ann_file} (bases panel)'
        )
    img_path = osp.join(dataset.data_root, dataset.data_prefix['img'], photo)
    model = getattr(runner.model, 'module', runner.model)
    meta = runner.train_dataloader.dataset.metainfo
    make_panel(
        model,
        cfg,
        img_path,
        out_file,
        num_instances=3,
        score_thr=score_thr,
        class_names=meta['classes'],
        palette=meta.get('palette'),
    )
    return out_file


def format_table(metrics: dict) -> str:
    header = '| split | ' + ' | '.join(k for k, _ in METRIC_KEYS) + ' |'
    lines = [header, '|' + '---|' * (len(METRIC_KEYS) + 1)]
    for split, values in metrics.items():
        lines.append(
            f'| {split} | '
            + ' | '.join(
                f'{100 * values.get(key, float("nan")):.1f}'
                for _, key in METRIC_KEYS
            )
            + ' |'
        )
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    iters = args.iters or cfg.train_cfg.max_iters
    if args.long:
        iters *= 4
    set_iters(cfg, iters)
    if args.seed is not None:
        cfg.randomness = dict(seed=args.seed)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='ProgressBarHook')
    ]
    cfg.log_level = 'WARNING'
    data_root = cfg.train_dataloader.dataset.data_root
    if not osp.isdir(data_root):
        sys.exit(
            f'demo data not found at {data_root!r}: run from the '
            'repository root (it ships demo/data/coco128-seg)'
        )

    start = time.time()
    runner = Runner.from_cfg(cfg)
    if args.checkpoint:
        runner.call_hook('before_run')  # log paths the test loops write to
        runner.load_checkpoint(args.checkpoint)
    else:
        init_cfg = cfg.model.backbone.get('init_cfg')
        init = (
            init_cfg.get('checkpoint') if isinstance(init_cfg, dict) else None
        )
        print(
            f'Training BlendMask ({osp.basename(args.config)}) for {iters} '
            f'iterations on {data_root} (CPU, backbone '
            f'{"from " + init if init else "from scratch"}) ...',
            flush=True,
        )
        runner.train()
    train_min = (time.time() - start) / 60

    print(
        'Evaluating on the training images and on the val images ...',
        flush=True,
    )
    t_eval = time.time()
    metrics = {
        'train (88 imgs, fit)': evaluate(runner, cfg, 'instances_train.json'),
        'val (22 imgs, held out)': evaluate(runner, cfg, 'instances_val.json'),
    }
    t_draw = time.time()
    titles = dict(
        train='BlendMask demo on TRAINING photos (does it fit?)',
        val='BlendMask demo on HELD-OUT val photos (never trained on)',
    )
    pictures = [
        path
        for split in ('train', 'val')
        for path in draw(
            runner,
            cfg,
            f'instances_{split}.json',
            osp.join(args.work_dir, 'vis', split),
            args.num_vis,
            args.score_thr,
            titles[split],
            args.sheet_rows,
        )
    ]
    bases_panel = draw_bases(
        runner,
        cfg,
        'instances_train.json',
        osp.join(args.work_dir, 'vis', 'bases_panel.png'),
        args.score_thr,
    )
    table = format_table(metrics)
    summary = dict(
        config=args.config,
        cfg_options=args.cfg_options,
        iters=iters,
        seed=cfg.randomness.get('seed'),
        train_minutes=round(train_min, 1),
        metrics=metrics,
        pictures=pictures,
        bases_panel=bases_panel,
    )
    # wall-clock phases: start-up + training, both evaluations, the rest
    # (pictures), for timing `make demo` by phase
    summary['minutes'] = dict(
        train=round(train_min, 2),
        eval=round((t_draw - t_eval) / 60, 2),
        pictures=round((time.time() - t_draw) / 60, 2),
        total=round((time.time() - start) / 60, 2),
    )
    with open(osp.join(args.work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    trained = args.checkpoint or (
        f'after {iters} iterations ({train_min:.1f} min of training)'
    )
    print(f'\nBlendMask {trained}, COCO AP in %:\n')
    print(table)
    print(
        f'\nmetrics: {osp.join(args.work_dir, "metrics.json")}\n'
        f'pictures ({len(pictures)}): {osp.join(args.work_dir, "vis")}/\n'
        f'bases and attentions of a training photo: {bases_panel}'
    )
    return summary


if __name__ == '__main__':
    main()
