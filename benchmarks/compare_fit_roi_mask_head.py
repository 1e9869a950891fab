"""Same-budget fit on four real photos: Mask R-CNN with the blender mask head
vs stock Mask R-CNN (FCNMaskHead), both from scratch.

The setting of ``tests/models/roi_heads/test_blend_roi_head_fit.py`` (R-18
at quarter width, 32-channel FPN and heads, ~224x160 inputs, batch 4, AdamW
2e-3, the four coco128-seg photos 34/42/73/81), run for both mask heads
with the same seed and iterations; COCO box / mask AP on those photos. The
stock model differs only in its RoI head: mmdet's ``StandardRoIHead`` +
``FCNMaskHead`` (4 convs, deconv, 80-class masks) at the same 32-channel
width.

    python benchmarks/compare_fit_roi_mask_head.py --threads 1 [--iters 100]
"""
import copy
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402

TESTS = osp.join(common.REPO_ROOT, 'tests', 'models', 'roi_heads')


def _fit_module():
    """The fit test's helpers (loaded by path: tests/ is not a package)."""
    sys.path[:0] = [TESTS, osp.dirname(osp.dirname(TESTS))]  # + fit_utils
    from module_utils import load_module
    return load_module(osp.join(TESTS, 'test_blend_roi_head_fit.py'),
                       '_roi_fit')


def stock_roi_head(cfg) -> None:
    """Replace the blender mask head by mmdet's FCNMaskHead (same width)."""
    r = cfg.model.roi_head
    r.type = 'StandardRoIHead'
    r.mask_head = dict(type='FCNMaskHead', num_convs=4, in_channels=32,
                       conv_out_channels=32, num_classes=80,
                       loss_mask=dict(type='CrossEntropyLoss', use_mask=True,
                                      loss_weight=1.0))


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--iters', type=int, default=100)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.iters = 2
    common.setup()
    import pathlib

    from mmengine.runner import Runner
    fit = _fit_module()
    info = common.machine_info(args.device)
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        ann = fit.subset(tmp)
        for name in ('blender', 'fcn'):
            cfg = fit.fit_config(ann, str(tmp / name), iters=args.iters)
            if name == 'fcn':
                stock_roi_head(cfg)
            untrained = copy.deepcopy(cfg)
            untrained.model.test_cfg.rcnn.score_thr = 0.0
            untrained.work_dir = str(tmp / f'{name}_untrained')
            before, _ = fit.segm_ap(Runner.from_cfg(untrained))
            runner = Runner.from_cfg(cfg)
            t0 = time.perf_counter()
            c0 = time.process_time()
            runner.train()
            train_s = time.perf_counter() - t0
            cpu_s = time.process_time() - c0
            after, box = fit.segm_ap(runner)
            results[name] = dict(mask_ap_before=before, mask_ap=after,
                                 box_ap=box, train_s=train_s,
                                 train_cpu_s=cpu_s)
            label = ('Mask R-CNN + blender mask head' if name == 'blender'
                     else 'Mask R-CNN (FCNMaskHead)')
            rows.append([label, args.iters, before, after, box, train_s,
                         cpu_s])
            print(label, results[name], flush=True)
    common.finish_info(info)
    name = 'compare_fit_roi_mask_head' + ('_quick' if args.quick else '')
    tables = {'Fit on 4 coco128-seg photos (COCO AP on them)': dict(
        columns=['model', 'iters', 'mask AP untrained', 'mask AP', 'box AP',
                 'train wall s', 'train CPU s'], rows=rows)}
    notes = ['setting of tests/models/roi_heads/test_blend_roi_head_fit.py: '
             'R-18 quarter width, 32-ch FPN/heads, ~224x160, batch 4, AdamW '
             '2e-3, seed 0, from scratch; photos 34, 42, 73, 81; the stock '
             'model has FCNMaskHead (4 x 32-ch convs, deconv, 80 classes).',
             'one run per model: run-to-run variation of this fit is a few '
             'AP points (thread count, data order).']
    common.write_results(args.out, name, info, tables,
                         dict(results=results, args=vars(args)), notes)
    return results


if __name__ == '__main__':
    main()
