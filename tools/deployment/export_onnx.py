"""Export a trained BlendMask to ONNX (run with onnxruntime through
``mmblend.deploy.OnnxDetector``).

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT \\
        --out model.onnx [--image PHOTO] [--cfg-options KEY=VALUE ...]

The graph takes the preprocessed image ``[1, 3, H, W]`` (any H, W) and its
unpadded size and returns the final ``boxes``, ``scores``, ``labels`` and
``R x R`` mask probabilities (post-processing and blender inside). It is
traced on ``--image`` (default: a bundled coco128 photo), which must give at
least one detection, and checked against PyTorch on it and on two variants
of it (flipped; padded to another size): detections matched by label and
box IoU. A graph that disagrees is removed (exit status 1).
"""

import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_IMAGE = osp.join(
    REPO,
    'demo',
    'data',
    'coco128-seg',
    'images',
    'train2017',
    '000000000009.jpg',
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--image',
        default=DEFAULT_IMAGE,
        help='photo to trace with (needs a detection)',
    )
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the onnxruntime check on the image',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. model.test_cfg.score_thr=0.1',
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    from mmblend.deploy.export import export_onnx, load_model
    from mmblend.deploy.preprocess import Preprocessor, img_shape_tensor

    if not osp.isfile(args.image):
        raise SystemExit(f'--image {args.image} not found')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        model = load_model(cfg, args.checkpoint)
        inputs, sample = Preprocessor(cfg)(args.image)
        report = export_onnx(
            model,
            inputs,
            img_shape_tensor(sample),
            args.out,
            verify=not args.no_verify,
        )
    except ValueError as e:
        print(f'export_onnx: {e}', file=sys.stderr)
        return 2
    except RuntimeError as e:  # the graph does not reproduce PyTorch
        if osp.exists(args.out):
            os.remove(args.out)
        print(
            f'export_onnx: verification failed, {args.out} removed: {e}',
            file=sys.stderr,
        )
        return 1
    print(
        f'wrote {args.out} (opset {report.pop("opset")}); traced on '
        f'{args.image}: ' + ', '.join(f'{k}={v:g}' for k, v in report.items())
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
