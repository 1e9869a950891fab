# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3 ``tools/test.py`` for mmblend.
"""Test (and evaluate) a detector with mmengine's Runner (mmdet 3.3
``tools/test.py`` flags and behaviour), with mmblend's registrations and its
safe checkpoint-loading path active. Multi-process testing on a CPU-only
machine uses a gloo process group and ``CPUAwareDDP``
(see :mod:`mmblend.engine.dist`); with CUDA nothing changes.

Also: the validation/test images are loaded with ``LoadCheckedImageFromFile``
and the evaluators wrapped in ``BadImageEvaluator`` (a bad image gets an
empty prediction, counted as ``data/bad_images``;
:func:`mmblend.engine.cli.load_config`), and a checkpoint that leaves
tensors of the model unloaded (trained with another config) is refused
(``--allow-partial-checkpoint`` tests anyway)."""

import argparse
import os.path as osp
import sys
import warnings
from copy import deepcopy

_REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmdet.engine.hooks.utils import trigger_visualization_hook  # noqa: E402
from mmdet.evaluation import DumpDetResults  # noqa: E402
from mmdet.registry import RUNNERS  # noqa: E402
from mmengine import ConfigDict  # noqa: E402

import mmblend  # noqa: E402,F401  (registrations + safe checkpoint loading)
from mmblend.engine.checkpoint_fit import (  # noqa: E402
    add_allow_partial_arg,
    check_or_exit,
)
from mmblend.engine.cli import (  # noqa: E402
    add_launcher_args,
    build_runner,
    load_config,
    parse_args_with_local_rank,
    setup_registries,
)


# TODO: support fuse_conv_bn and format_only
def parse_args():
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model'
    )
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics',
    )
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation',
    )
    parser.add_argument(
        '--show', action='store_true', help='show prediction results'
    )
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir',
    )
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)'
    )
    add_launcher_args(parser)
    parser.add_argument('--tta', action='store_true')
    add_allow_partial_arg(parser)
    args = parse_args_with_local_rank(parser)
    return args


def main():
    args = parse_args()

    setup_registries()
    cfg = load_config(args)

    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:
        if 'tta_model' not in cfg:
            warnings.warn(
                'Cannot find ``tta_model`` in config, '
                'we will set it as default.'
            )
            # mmdet's DetTTAModel refuses masks; ours merges them
            cfg.tta_model = dict(
                type='DetTTAModelWithMasks',
                tta_cfg=dict(
                    nms=dict(type='nms', iou_threshold=0.5), max_per_img=100
                ),
            )
        if 'tta_pipeline' not in cfg:
            warnings.warn(
                'Cannot find ``tta_pipeline`` in config, '
                'we will set it as default.'
            )
            test_data_cfg = cfg.test_dataloader.dataset
            while 'dataset' in test_data_cfg:
                test_data_cfg = test_data_cfg['dataset']
            cfg.tta_pipeline = deepcopy(test_data_cfg.pipeline)
            flip_tta = dict(
                type='TestTimeAug',
                transforms=[
                    [
                        dict(type='RandomFlip', prob=1.0),
                        dict(type='RandomFlip', prob=0.0),
                    ],
                    [
                        dict(
                            type='PackDetInputs',
                            meta_keys=(
                                'img_id',
                                'img_path',
                                'ori_shape',
                                'img_shape',
                                'scale_factor',
                                'flip',
                                'flip_direction',
                            ),
                        )
                    ],
                ],
            )
            cfg.tta_pipeline[-1] = flip_tta
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    # build the runner from config (gloo + CPUAwareDDP on a CPU-only
    # multi-process run, see mmblend.engine.dist)
    runner = build_runner(cfg, RUNNERS)
    check_or_exit(runner.model, args.checkpoint, args.allow_partial_checkpoint)

    # add `DumpResults` dummy metric
    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), (
            'The dump file must be a pkl file.'
        )
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out)
        )

    # start testing
    runner.test()


if __name__ == '__main__':
    main()
