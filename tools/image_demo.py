"""Run a trained BlendMask on images and save pictures with masks.

    python tools/image_demo.py \
        demo/data/coco128-seg/images/train2017/000000000009.jpg \
        work_dirs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py \
        --weights work_dirs/demo/iter_1200.pth --out-dir outputs

Writes ``OUT_DIR/vis/<image>`` (the picture) and ``OUT_DIR/preds/<image>.json``
(boxes, labels, scores, RLE masks), through mmdet's ``DetInferencer``. Stops
with a message (exit status 1) on a folder without images, a file that is
not a decodable image, or a checkpoint that leaves tensors of the model
unloaded (trained with another config; ``--allow-partial-checkpoint`` runs
anyway).
"""

import argparse
import os
import os.path as osp
import sys

_REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmdet.apis import DetInferencer  # noqa: E402
from mmdet.apis.det_inferencer import IMG_EXTENSIONS  # noqa: E402

import mmblend  # noqa: E402,F401
from mmblend.datasets.transforms import check_image_bytes  # noqa: E402
from mmblend.engine.checkpoint_fit import (  # noqa: E402
    add_allow_partial_arg,
    check_or_exit,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='model config file')
    parser.add_argument('--weights', required=True, help='checkpoint file')
    parser.add_argument('--out-dir', default='outputs')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--pred-score-thr', type=float, default=0.3)
    add_allow_partial_arg(parser)
    return parser.parse_args(argv)


def list_images(inputs: str) -> list:
    """The image files of ``inputs`` (a file, or a folder: its files with
    one of DetInferencer's extensions); exits with a message when there is
    none or one cannot be decoded."""
    if osp.isdir(inputs):
        files = sorted(
            osp.join(inputs, f)
            for f in os.listdir(inputs)
            if f.lower().endswith(IMG_EXTENSIONS)
        )
        if not files:
            sys.exit(
                f'error: no image ({", ".join(IMG_EXTENSIONS)}) in '
                f'folder {inputs!r}'
            )
    else:
        files = [inputs]
    for path in files:
        with open(path, 'rb') as f:
            _, problem = check_image_bytes(f.read())
        if problem is not None:
            sys.exit(f'error: bad image {path!r}: {problem.reason}')
    return files


def main(argv=None) -> dict:
    args = parse_args(argv)
    for path, what in (
        (args.config, 'config'),
        (args.weights, 'checkpoint'),
        (args.inputs, 'input'),
    ):
        if not osp.exists(path):
            sys.exit(f'error: {what} {path!r} not found')
    images = list_images(args.inputs)
    inferencer = DetInferencer(
        model=args.config, weights=args.weights, device=args.device
    )
    check_or_exit(
        inferencer.model, args.weights, args.allow_partial_checkpoint
    )
    results = inferencer(
        images,
        out_dir=args.out_dir,
        no_save_pred=False,
        pred_score_thr=args.pred_score_thr,
    )
    print(
        f'{len(images)} image(s): results written to '
        f'{osp.join(args.out_dir, "vis")} and '
        f'{osp.join(args.out_dir, "preds")}'
    )
    return results


if __name__ == '__main__':
    main()
