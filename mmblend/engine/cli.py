# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3 ``tools/train.py`` and ``tools/test.py``.
"""What ``tools/train.py`` and ``tools/test.py`` share: the common flags
(``--cfg-options``, ``--launcher``, ``--local-rank``), the
registry set-up, the config loading (launcher, ``--cfg-options``, work_dir
priority) and the Runner construction, with mmdet 3.3's flags and
behaviour."""

import argparse
import os
import os.path as osp
from typing import Iterator, Optional

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from .checkpoint_hook import find_resume_checkpoint
from .dist import prepare_cpu_distributed


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options`` and ``--launcher``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )


def parse_args_with_local_rank(
    parser: argparse.ArgumentParser,
) -> argparse.Namespace:
    """Add ``--local-rank``, parse, and export ``LOCAL_RANK`` if unset."""
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def setup_registries() -> None:
    """mmdet's start-up: dynamo cache limit and module registration."""
    from mmdet.utils import (
        register_all_modules,
        setup_cache_size_limit_of_dynamo,
    )

    # Reduce the number of repeated compilations and improve speed.
    setup_cache_size_limit_of_dynamo()
    # register all modules in mmdet into the registries
    # do not init the default scope here because it will be init in the runner
    register_all_modules(init_default_scope=False)


def load_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply ``--launcher``, ``--cfg-options``,
    the work_dir priority (CLI > segment in file > config file name),
    :func:`use_checked_loader` and :func:`wrap_evaluators`."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        # update configs according to CLI args if args.work_dir is not None
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        # use config filename as default work_dir if cfg.work_dir is None
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0]
        )
    use_checked_loader(cfg)
    wrap_evaluators(cfg)
    return cfg


def dataset_pipelines(dataset: Optional[dict]) -> Iterator[list]:
    """The pipelines of a dataset config and of the datasets it wraps."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('pipeline'), list):
        yield dataset['pipeline']
    yield from dataset_pipelines(dataset.get('dataset'))
    for inner in dataset.get('datasets') or []:
        yield from dataset_pipelines(inner)


def use_checked_loader(cfg: Config) -> None:
    """Validate and test with ``LoadCheckedImageFromFile``: every
    ``LoadImageFromFile`` of the ``val_dataloader``/``test_dataloader``
    pipelines and of ``tta_pipeline`` becomes one, with its arguments.

    mmblend's configs name mmdet's ``LoadImageFromFile`` there, because
    mmdet's ``DetInferencer`` looks the test pipeline up for exactly that
    name. With :func:`wrap_evaluators`, a bad image of a test-mode
    ``CocoInstanceDataset`` then gets an empty prediction and is counted
    (``data/bad_images``).
    """
    pipelines = [
        p
        for key in ('val_dataloader', 'test_dataloader')
        if isinstance(cfg.get(key), dict)
        for p in dataset_pipelines(cfg[key].get('dataset'))
    ]
    if isinstance(cfg.get('tta_pipeline'), list):
        pipelines.append(cfg.tta_pipeline)
    for pipeline in pipelines:
        for transform in pipeline:
            if (
                isinstance(transform, dict)
                and transform.get('type') == 'LoadImageFromFile'
            ):
                transform['type'] = 'LoadCheckedImageFromFile'


def wrap_evaluators(cfg: Config) -> None:
    """Wrap ``val_evaluator`` and ``test_evaluator`` (a metric config or a
    list of them) in :class:`~mmblend.evaluation.BadImageEvaluator`: bad
    images of a test-mode ``CocoInstanceDataset`` are scored as missed and
    counted (``data/bad_images``). An evaluator given as
    ``dict(type=..., metrics=...)`` is left as it is."""
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(key)
        if not evaluator or (
            isinstance(evaluator, dict) and 'metrics' in evaluator
        ):
            continue
        cfg[key] = dict(type='BadImageEvaluator', metrics=evaluator)


def build_runner(cfg: Config, runners) -> Runner:
    """Build the Runner: mmengine's default one, or ``cfg.runner_type`` from
    the ``runners`` registry (mmdet's train.py uses mmengine's RUNNERS, its
    test.py mmdet's)."""
    # Multi-process on a CPU-only machine: gloo process group + CPUAwareDDP.
    # No-op with CUDA or with --launcher none.
    prepare_cpu_distributed(cfg)

    if 'runner_type' not in cfg:
        # build the default runner
        return Runner.from_cfg(cfg)
    # build customized runner from the registry
    # if 'runner_type' is set in the cfg
    return runners.build(cfg)


def apply_resume(cfg: Config, resume: Optional[str]) -> Optional[str]:
    """Apply ``--resume [CKPT]`` to ``cfg`` and say what will be resumed.

    ``--resume CKPT`` resumes from ``CKPT``. ``--resume`` alone
    (``resume='auto'``) resumes from the checkpoint that
    :func:`~mmblend.engine.checkpoint_hook.find_resume_checkpoint` finds in
    the work dir (``last_checkpoint``, or the newest complete checkpoint when
    that file is empty or names a missing file); with none there, training
    starts from scratch, as with mmengine.

    Returns:
        str | None: The message to log once the runner (and its logger)
        exists; None without ``--resume``.
    """
    if resume is None:
        return None
    if resume != 'auto':
        cfg.resume, cfg.load_from = True, resume
        return (
            f"--resume: resuming from '{resume}' (given on the command line)"
        )
    ckpt, how = find_resume_checkpoint(cfg.work_dir)
    if ckpt is None:
        cfg.resume, cfg.load_from = False, None
        return f'--resume: nothing to resume ({how}); training from scratch'
    cfg.resume, cfg.load_from = True, ckpt
    return f"--resume: resuming from '{ckpt}' ({how})"
