"""Draw what BlendMask blends: bases, attentions, products, masks.

    python tools/analysis_tools/vis_bases.py CONFIG CHECKPOINT \
        IMAGE [IMAGE ...] --out-dir DIR [--num-instances 3] [--device cpu]

Writes one PNG panel per image, ``DIR/<image stem>_bases.png`` (the paper's
Fig. 1 and Fig. 3), all at the network's input scale:

* top: the prediction over the original image (detections scoring at least
  ``--score-thr``, the threshold and counts in its title, non-overlapping
  labels, a legend of the class colours), then the K bases over the image
  (with no detection, a note says so);
* one row per top-scoring detection (at most ``--num-instances``): the box
  region of the image, its K attention maps (M x M, upsampled to the box and
  normalised over K as the blender does), the K per-basis products
  (cropped basis x attention; their sum is the mask logit) and the final mask
  probability.

Only the blender's ``merge='blender'`` has attentions; the assembler ablation
is refused with an error.
"""

import argparse
import os.path as osp
import sys
from typing import List, Optional

_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmblend.engine.checkpoint_fit import (  # noqa: E402
    add_allow_partial_arg,
    check_or_exit,
)
from mmblend.visualization import make_panel  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', metavar='IMAGE')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--num-instances',
        type=int,
        default=3,
        help='top-scoring detections drawn (rows)',
    )
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='score threshold of the overlay',
    )
    parser.add_argument('--device', default='cpu')
    add_allow_partial_arg(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    for path, what in [
        (args.config, 'config'),
        (args.checkpoint, 'checkpoint'),
    ] + [(p, 'image') for p in args.images]:
        if not osp.isfile(path):
            sys.exit(f'error: {what} {path!r} not found')
    if args.num_instances < 1:
        sys.exit('error: --num-instances must be >= 1')
    from mmdet.apis import init_detector

    import mmblend  # noqa: F401  (registrations + safe checkpoint loading)

    model = init_detector(args.config, args.checkpoint, device=args.device)
    check_or_exit(model, args.checkpoint, args.allow_partial_checkpoint)
    written = []
    for img_path in args.images:
        stem = osp.splitext(osp.basename(img_path))[0]
        out_file = osp.join(args.out_dir, f'{stem}_bases.png')
        info = make_panel(
            model,
            model.cfg,
            img_path,
            out_file,
            args.num_instances,
            args.score_thr,
        )
        print(
            f'{out_file}: {info.bases.shape[0]} bases, '
            f'{len(info.scores)} detections'
        )
        written.append(out_file)
    return written


if __name__ == '__main__':
    main()
