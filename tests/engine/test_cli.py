"""What tools/train.py and tools/test.py share, on configs: the work_dir
priority, --cfg-options and --launcher, the checked image loader for
validation/test (wrapped datasets and the TTA pipeline included), the bad
image evaluator around the metrics, and --resume (the tools end to end:
tests/tools/test_train_test_cli.py)."""

import argparse
import os.path as osp

from mmengine.config import Config

from mmblend.engine.cli import (
    apply_resume,
    load_config,
    use_checked_loader,
    wrap_evaluators,
)

METRIC = dict(type='CocoMetric', metric=['bbox', 'segm'])


def write_config(tmp_path, **fields):
    path = str(tmp_path / 'my_config.py')
    Config(fields).dump(path)
    return path


def args(config, work_dir=None, cfg_options=None, launcher='none'):
    return argparse.Namespace(
        config=config,
        work_dir=work_dir,
        cfg_options=cfg_options,
        launcher=launcher,
    )


def test_work_dir_priority_options_and_launcher(tmp_path):
    path = write_config(tmp_path, a=1)
    cfg = load_config(args(path))
    assert cfg.work_dir == osp.join('./work_dirs', 'my_config')
    assert cfg.launcher == 'none'
    path = write_config(tmp_path, a=1, work_dir='in_file')
    assert load_config(args(path)).work_dir == 'in_file'
    cfg = load_config(
        args(path, work_dir='cli', cfg_options=dict(a=2), launcher='pytorch')
    )
    assert (cfg.work_dir, cfg.a, cfg.launcher) == ('cli', 2, 'pytorch')


def test_checked_loader_for_validation_test_and_tta_only():
    def pipeline():
        return [
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='PackDetInputs'),
        ]

    cfg = Config(
        dict(
            train_dataloader=dict(dataset=dict(pipeline=pipeline())),
            val_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset', dataset=dict(pipeline=pipeline())
                )
            ),
            test_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset', datasets=[dict(pipeline=pipeline())]
                )
            ),
            tta_pipeline=pipeline(),
        )
    )
    use_checked_loader(cfg)
    checked = dict(type='LoadCheckedImageFromFile', backend_args=None)
    assert cfg.val_dataloader.dataset.dataset.pipeline[0] == checked
    assert cfg.test_dataloader.dataset.datasets[0].pipeline[0] == checked
    assert cfg.tta_pipeline[0] == checked
    assert (
        cfg.train_dataloader.dataset.pipeline[0]['type'] == 'LoadImageFromFile'
    )  # training skips bad images in the dataset


def test_evaluators_wrapped_once():
    wrapped = dict(type='BadImageEvaluator', metrics=METRIC)
    cfg = Config(dict(val_evaluator=METRIC, test_evaluator=[METRIC, METRIC]))
    wrap_evaluators(cfg)
    assert cfg.val_evaluator == wrapped
    assert cfg.test_evaluator.metrics == [METRIC, METRIC]
    wrap_evaluators(cfg)
    assert cfg.val_evaluator == wrapped
    cfg = Config(dict(val_evaluator=None))
    wrap_evaluators(cfg)
    assert cfg.val_evaluator is None


def test_resume_flag(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), resume=False, load_from=None))
    assert apply_resume(cfg, None) is None and cfg.resume is False
    assert 'given on the command line' in apply_resume(cfg, 'a.pth')
    assert (cfg.resume, cfg.load_from) == (True, 'a.pth')
    assert 'training from scratch' in apply_resume(cfg, 'auto')
    assert (cfg.resume, cfg.load_from) == (False, None)
    (tmp_path / 'iter_4.pth').write_text('')
    assert 'resuming from' in apply_resume(cfg, 'auto')
    assert cfg.load_from == str(tmp_path / 'iter_4.pth') and cfg.resume
