"""Run a trained BlendMask on images and save pictures with masks.

    python tools/image_demo.py demo/data/coco128-seg/images/train2017/000000000009.jpg \
        work_dirs/demo/blendmask_r18_coco128_demo.py \
        --weights work_dirs/demo/iter_1200.pth --out-dir outputs

Writes ``OUT_DIR/vis/<image>`` (the picture) and ``OUT_DIR/preds/<image>.json``
(boxes, labels, scores, RLE masks), through mmdet's ``DetInferencer``.
"""
import argparse
import os.path as osp
import sys

_REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmdet.apis import DetInferencer  # noqa: E402

import mmblend  # noqa: E402,F401


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('--weights', required=True, help='checkpoint file')
    parser.add_argument('--out-dir', default='outputs')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--pred-score-thr', type=float, default=0.3)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.weights, 'checkpoint'),
                       (args.inputs, 'input')):
        if not osp.exists(path):
            sys.exit(f'error: {what} {path!r} not found')
    inferencer = DetInferencer(
        model=args.config, weights=args.weights, device=args.device)
    results = inferencer(
        args.inputs, out_dir=args.out_dir, no_save_pred=False,
        pred_score_thr=args.pred_score_thr)
    print(f'results written to {osp.join(args.out_dir, "vis")} and '
          f'{osp.join(args.out_dir, "preds")}')
    return results


if __name__ == '__main__':
    main()
