# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3 ``tools/train.py`` for mmblend.
"""Train a detector with mmengine's Runner (mmdet 3.3 ``tools/train.py``
flags and behaviour), with mmblend's registrations active.

Differences from mmdet's script, all only when they matter:

* ``import mmblend`` registers mmblend's modules and activates its safe
  checkpoint-loading path before anything is built or loaded.
* ``--amp`` without a CUDA (or other mmengine-supported AMP) device fails
  early with a clear message and exit status 2 instead of an assertion
  traceback from ``AmpOptimWrapper``.
* With ``--launcher pytorch|slurm|mpi`` and no CUDA device, the process
  group is initialised with ``gloo`` and the model is wrapped by
  ``CPUAwareDDP`` (see :mod:`mmblend.engine.dist`). With CUDA, nothing
  changes: mmengine initialises and wraps as usual.
* ``--resume`` logs which checkpoint it resumes from, and an empty or stale
  ``last_checkpoint`` (a crash while it was written) falls back to the
  newest complete checkpoint instead of ``resume('')``
  (:func:`mmblend.engine.cli.apply_resume`).
"""

import argparse
import os.path as osp
import sys

# Make ``import mmblend`` work from a source checkout without installing it.
_REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from mmengine.registry import RUNNERS  # noqa: E402

import mmblend  # noqa: E402,F401  (registrations + safe checkpoint loading)
from mmblend.engine.cli import (  # noqa: E402
    add_launcher_args,
    apply_resume,
    build_runner,
    load_config,
    parse_args_with_local_rank,
    setup_registries,
)
from mmblend.engine.dist import accelerator_available  # noqa: E402

AMP_CPU_MESSAGE = (
    '--amp needs a CUDA device; none is available here '
    '(torch.cuda.is_available() is False). mmengine\'s AmpOptimWrapper only '
    'supports CUDA/NPU/MLU/MUSA devices. Run without --amp on CPU.'
)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training',
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.',
    )
    add_launcher_args(parser)
    args = parse_args_with_local_rank(parser)

    return args


def main():
    args = parse_args()

    # Fail early (before loading data or models) instead of an assertion
    # deep inside the Runner.
    # the devices accelerator_available() accepts are those of
    # AmpOptimWrapper's own check
    if args.amp and not accelerator_available():
        print(f'error: {AMP_CPU_MESSAGE}', file=sys.stderr)
        sys.exit(2)

    setup_registries()
    cfg = load_config(args)

    # enable automatic-mixed-precision training
    if args.amp is True:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    # enable automatically scaling LR
    if args.auto_scale_lr:
        if (
            'auto_scale_lr' in cfg
            and 'enable' in cfg.auto_scale_lr
            and 'base_batch_size' in cfg.auto_scale_lr
        ):
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError(
                'Can not find "auto_scale_lr" or '
                '"auto_scale_lr.enable" or '
                '"auto_scale_lr.base_batch_size" in your'
                ' configuration file.'
            )

    # resume is determined in this priority: resume from > auto_resume;
    # auto: last_checkpoint, or the newest complete checkpoint when it is
    # empty or stale (mmblend.engine.checkpoint_hook)
    resume_message = apply_resume(cfg, args.resume)

    # build the runner from config (gloo + CPUAwareDDP on a CPU-only
    # multi-process run, see mmblend.engine.dist)
    runner = build_runner(cfg, RUNNERS)
    if resume_message:
        runner.logger.info(resume_message)

    # start training
    runner.train()


if __name__ == '__main__':
    main()
