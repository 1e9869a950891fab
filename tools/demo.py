"""`make demo`: train BlendMask on the bundled coco128-seg photos on a CPU,
evaluate it on its training images (does it fit?) and on the held-out val
images (does it generalise?), and save pictures of predicted masks.

    python tools/demo.py                 # ~20 min on 2 cores
    python tools/demo.py --long          # 4x the iterations, better numbers
    python tools/demo.py --iters 50      # a quick smoke run

Outputs under --work-dir (default work_dirs/demo): the checkpoint, logs,
``metrics.json``, ``vis/{train,val}/*.jpg`` (ground truth left,
prediction right) and ``vis/bases_panel.png`` (bases, attentions and masks
of a training photo, see tools/analysis_tools/vis_bases.py).
``--checkpoint CKPT`` evaluates and draws a trained model
without training.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import time

_REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner, TestLoop  # noqa: E402

import mmblend  # noqa: E402,F401

DEFAULT_CONFIG = osp.join(_REPO_ROOT, 'configs', 'demo',
                          'blendmask_r18_coco128_demo.py')
METRIC_KEYS = [('bbox', 'coco/bbox_mAP'), ('bbox AP50', 'coco/bbox_mAP_50'),
               ('mask', 'coco/segm_mAP'), ('mask AP50', 'coco/segm_mAP_50')]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--iters', type=int, help='training iterations')
    parser.add_argument('--long', action='store_true',
                        help='train 4x longer than the config says')
    parser.add_argument('--num-vis', type=int, default=6,
                        help='images of each split to draw')
    parser.add_argument('--checkpoint',
                        help='skip training: evaluate and draw this '
                        'checkpoint')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold of the pictures')
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


def draw(runner: Runner, cfg: Config, ann_file: str, out_dir: str, num: int,
         score_thr: float) -> list:
    """Ground truth (left) and predictions (right) of ``num`` images."""
    import mmcv
    loader = copy.deepcopy(cfg.test_dataloader)
    loader.dataset.ann_file = ann_file
    loader.batch_size = 1
    loader.persistent_workers = False
    loader = runner.build_dataloader(loader)
    visualizer = runner.visualizer
    visualizer.dataset_meta = loader.dataset.metainfo
    model = runner.model
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for i, batch in enumerate(loader):
        if i >= num:
            break
        result = model.test_step(batch)[0]
        img = mmcv.imread(result.img_path, channel_order='rgb')
        out_file = osp.join(out_dir, osp.basename(result.img_path))
        visualizer.add_datasample(
            osp.basename(result.img_path), img, data_sample=result,
            draw_gt=True, show=False, pred_score_thr=score_thr,
            out_file=out_file)
        written.append(out_file)
    return written


# The training photo of the bases panel (two giraffes: large, distinct
# instances; README "Demo").
BASES_PHOTO = '000000000025.jpg'


def draw_bases(runner: Runner, cfg: Config, ann_file: str, out_file: str,
               score_thr: float, photo: str = BASES_PHOTO) -> str:
    """The bases/attentions panel (mmblend.visualization) of ``photo``, an
    image of ``ann_file``; call after :func:`draw` (class names)."""
    from mmblend.visualization import make_panel
    dataset = cfg.test_dataloader.dataset
    with open(osp.join(dataset.data_root, ann_file)) as f:
        names = {im['file_name'] for im in json.load(f)['images']}
    if photo not in names:
        raise FileNotFoundError(
            f'{photo} is not an image of {ann_file} (bases panel)')
    img_path = osp.join(dataset.data_root, dataset.data_prefix['img'], photo)
    model = getattr(runner.model, 'module', runner.model)
    make_panel(model, cfg, img_path, out_file, num_instances=3,
               score_thr=score_thr,
               class_names=runner.visualizer.dataset_meta.get('classes'))
    return out_file


def format_table(metrics: dict) -> str:
    header = '| split | ' + ' | '.join(k for k, _ in METRIC_KEYS) + ' |'
    lines = [header, '|' + '---|' * (len(METRIC_KEYS) + 1)]
    for split, values in metrics.items():
        lines.append(f'| {split} | ' + ' | '.join(
            f'{100 * values.get(key, float("nan")):.1f}'
            for _, key in METRIC_KEYS) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    iters = args.iters or cfg.train_cfg.max_iters
    if args.long:
        iters *= 4
    set_iters(cfg, iters)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='ProgressBarHook')
    ]
    cfg.log_level = 'WARNING'
    data_root = cfg.train_dataloader.dataset.data_root
    if not osp.isdir(data_root):
        sys.exit(f'demo data not found at {data_root!r}: run from the '
                 'repository root (it ships demo/data/coco128-seg)')

    start = time.time()
    runner = Runner.from_cfg(cfg)
    if args.checkpoint:
        runner.call_hook('before_run')  # log paths the test loops write to
        runner.load_checkpoint(args.checkpoint)
    else:
        print(f'Training BlendMask ({osp.basename(args.config)}) for {iters} '
              f'iterations on {data_root} (CPU, from scratch) ...',
              flush=True)
        runner.train()
    train_min = (time.time() - start) / 60

    print('Evaluating on the training images and on the val images ...',
          flush=True)
    t_eval = time.time()
    metrics = {
        'train (88 imgs, fit)': evaluate(runner, cfg,
                                         'instances_train.json'),
        'val (22 imgs, held out)': evaluate(runner, cfg,
                                            'instances_val.json'),
    }
    t_draw = time.time()
    pictures = [
        path for split in ('train', 'val')
        for path in draw(runner, cfg, f'instances_{split}.json',
                         osp.join(args.work_dir, 'vis', split), args.num_vis,
                         args.score_thr)
    ]
    bases_panel = draw_bases(
        runner, cfg, 'instances_train.json',
        osp.join(args.work_dir, 'vis', 'bases_panel.png'), args.score_thr)
    table = format_table(metrics)
    summary = dict(config=args.config, iters=iters,
                   train_minutes=round(train_min, 1), metrics=metrics,
                   pictures=pictures, bases_panel=bases_panel)
    # wall-clock phases: start-up + training, both evaluations, the rest
    # (pictures), for timing `make demo` by phase
    summary['minutes'] = dict(train=round(train_min, 2),
                              eval=round((t_draw - t_eval) / 60, 2),
                              pictures=round((time.time() - t_draw) / 60, 2),
                              total=round((time.time() - start) / 60, 2))
    with open(osp.join(args.work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    trained = args.checkpoint or (f'after {iters} iterations '
                                  f'({train_min:.1f} min of training)')
    print(f'\nBlendMask {trained}, COCO AP in %:\n')
    print(table)
    print(f'\nmetrics: {osp.join(args.work_dir, "metrics.json")}\n'
          f'pictures ({len(pictures)}): {osp.join(args.work_dir, "vis")}/\n'
          f'bases and attentions of a training photo: {bases_panel}')
    return summary


if __name__ == '__main__':
    main()
