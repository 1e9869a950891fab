"""The commands mmdet users reach for, on a BlendMask config and checkpoint
with the bundled coco128-seg photos (tests/configs/blendmask_tiny_coco128.py,
4 training and 3 test photos): mmdet's own tools from ``mmdet/.mim/tools``
where they work as they are, mmblend's ``tools/`` where they do not
(docs/tools.md says which and why). DetInferencer and tools/image_demo.py:
tests/tools/test_inference_apis.py."""

import glob
import json
import os.path as osp
import pickle
import re

import mmdet
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config

from cli_utils import TEST, TRAIN, explain, run_tool
from tiny_config import DATA_ROOT, REPO_ROOT, write_subset_ann

MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')
OURS = osp.join(REPO_ROOT, 'tools', 'analysis_tools')
ITERS, NUM_TEST = 2, 3
CONFIG = """
_base_ = ['{repo}/tests/configs/blendmask_tiny_coco128.py',
          '{repo}/configs/_base_/schedules/schedule_1x.py']
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(ann_file='{train}'))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(ann_file='{val}'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{val}')
test_evaluator = val_evaluator
train_cfg = dict(max_iters={iters}, val_interval={iters})
param_scheduler = []
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={iters}))
"""


def mmdet_tool(name):
    return osp.join(MMDET_TOOLS, name)


def ok(args, **kwargs):
    proc = run_tool(args, **kwargs)
    assert proc.returncode == 0, explain(proc)
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """tools/train.py (validating at the end), then tools/test.py with
    ``--out`` and ``--show-dir``."""
    tmp = tmp_path_factory.mktemp('mmdet_tools')
    train = write_subset_ann(
        osp.join(DATA_ROOT, 'instances_train.json'), str(tmp / 'train.json'), 4
    )
    val = write_subset_ann(
        osp.join(DATA_ROOT, 'instances_val.json'),
        str(tmp / 'val.json'),
        NUM_TEST,
    )
    cfg = str(tmp / 'blendmask_tiny.py')
    with open(cfg, 'w') as f:
        f.write(
            CONFIG.format(repo=REPO_ROOT, train=train, val=val, iters=ITERS)
        )
    work = str(tmp / 'work')
    ok([TRAIN, cfg, '--work-dir', work])
    ckpt = osp.join(work, f'iter_{ITERS}.pth')
    preds = str(tmp / 'preds.pkl')
    ok(
        [
            TEST,
            cfg,
            ckpt,
            '--work-dir',
            str(tmp / 'test'),
            '--out',
            preds,
            '--show-dir',
            'show',
        ]
    )
    (log,) = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    return dict(tmp=tmp, cfg=cfg, ckpt=ckpt, preds=preds, log=log)


def test_test_py_out_and_show_dir(run):
    with open(run['preds'], 'rb') as f:
        assert len(pickle.load(f)) == NUM_TEST
    shown = glob.glob(str(run['tmp'] / 'test' / '*' / 'show' / '*.jpg'))
    assert len(shown) == NUM_TEST


def test_print_config_and_browse_dataset(run):
    out = ok([mmdet_tool('misc/print_config.py'), run['cfg']])
    assert "type='BlendMask'" in out and 'LoadCheckedImageFromFile' in out
    browse = str(run['tmp'] / 'browse')
    ok(
        [
            mmdet_tool('analysis_tools/browse_dataset.py'),
            run['cfg'],
            '--output-dir',
            browse,
            '--not-show',
        ]
    )
    assert len(glob.glob(osp.join(browse, '*.jpg'))) == 4


def test_confusion_matrix(run):
    out_dir = str(run['tmp'] / 'confusion')
    ok(
        [
            mmdet_tool('analysis_tools/confusion_matrix.py'),
            run['cfg'],
            run['preds'],
            out_dir,
            '--score-thr',
            '0',
        ]
    )
    assert osp.isfile(osp.join(out_dir, 'confusion_matrix.png'))


def test_analyze_results(run):
    """mmdet's own stops on the checked loader of the training pipeline;
    ours runs it with that loader read as mmcv's."""
    show = str(run['tmp'] / 'analyze')
    args = [run['cfg'], run['preds'], show, '--topk', '1']
    proc = run_tool([mmdet_tool('analysis_tools/analyze_results.py')] + args)
    assert proc.returncode != 0
    assert 'must include loading image and annotations' in proc.stderr
    ok([osp.join(OURS, 'analyze_results.py')] + args)
    for kind in ('good', 'bad'):
        assert len(glob.glob(osp.join(show, kind, '*.jpg'))) == 1, kind


def test_analyze_logs(run, tmp_path):
    """Ours plots losses and AP of an iteration-based log, also with a
    validation record without metrics (mmdet's own fails on that)."""
    pytest.importorskip('seaborn')
    log = str(tmp_path / 'scalars.json')
    with open(run['log']) as f:
        records = [json.loads(line) for line in f]
    assert [r['step'] for r in records if 'loss' in r] == [1, 2]
    # validation at the last iteration (default_runtime.py's logger)
    assert records[-1]['step'] == ITERS and 'coco/segm_mAP' in records[-1]
    with open(log, 'w') as f:
        for r in records + [dict(data_time=0.1, time=0.2, step=ITERS)]:
            f.write(json.dumps(r) + '\n')
    args = ['plot_curve', log, '--keys', 'loss', 'loss_mask', '--out']
    proc = run_tool(
        [mmdet_tool('analysis_tools/analyze_logs.py')]
        + args
        + [str(tmp_path / 'mmdet.png')]
    )
    assert 'x and y must have same first dimension' in proc.stderr
    ours = osp.join(OURS, 'analyze_logs.py')
    ok([ours] + args + [str(tmp_path / 'loss.png')])
    ok(
        [
            ours,
            'plot_curve',
            log,
            '--keys',
            'segm_mAP',
            '--out',
            str(tmp_path / 'ap.png'),
        ]
    )
    assert osp.isfile(tmp_path / 'loss.png') and osp.isfile(
        tmp_path / 'ap.png'
    )
    assert 'average iter time' in ok([ours, 'cal_train_time', log])


def _gflops(text):
    value, unit = re.search(r'Flops: ([\d.]+)([GMK])', text).groups()
    return float(value) * dict(G=1, M=1e-3, K=1e-6)[unit]


def test_get_flops_counts_the_mask_branch(run):
    """mmdet's get_flops.py counts the whole model (counted here by the
    same counter), with the mask branch at max_per_img=100 candidates."""
    out = ok(
        [
            mmdet_tool('analysis_tools/get_flops.py'),
            run['cfg'],
            '--num-images',
            '1',
        ]
    )
    model = MODELS.build(Config.fromfile(run['cfg']).model).eval()
    h, w = re.search(r'Input shape: \(?(\d+), (\d+)', out).groups()
    inputs = (torch.zeros(1, 3, int(h), int(w)),)

    class WithoutMasks(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            feats = model.extract_feat(x)
            return model.bbox_head(feats), model.mask_head(feats)

    def gflops(module):
        return (
            get_model_complexity_info(
                module, inputs=inputs, show_table=False, show_arch=False
            )['flops']
            / 1e9
        )

    # printed with 3 decimals
    assert _gflops(out) == pytest.approx(gflops(model), abs=6e-4)
    # 100 candidates, each at least the top layer's 3x3 conv 32 -> 196
    assert gflops(model) - gflops(WithoutMasks()) >= 100 * 32 * 9 * 196 / 1e9


def test_benchmark(run):
    out = ok(
        [
            osp.join(OURS, 'benchmark.py'),
            run['cfg'],
            run['ckpt'],
            '--max-iter',
            '3',
            '--num-warmup',
            '1',
        ]
    )
    assert re.search(r'Overall fps: [\d.]+ img/s', out), out
    pytest.importorskip('psutil')
    out = ok(
        [
            mmdet_tool('analysis_tools/benchmark.py'),
            run['cfg'],
            '--task',
            'dataset',
            '--max-iter',
            '3',
            '--num-warmup',
            '1',
            '--log-interval',
            '1',
        ]
    )
    assert 'Overall fps' in out


def test_test_py_refuses_a_checkpoint_of_another_config(run):
    proc = run_tool(
        [
            TEST,
            run['cfg'],
            run['ckpt'],
            '--cfg-options',
            'model.bbox_head.num_classes=3',
            'model.mask_head.basis.num_classes=3',
        ]
    )
    assert proc.returncode != 0
    assert 'tensors unloaded (4 of another shape, 0 missing)' in proc.stderr, (
        explain(proc)
    )
    assert '--allow-partial-checkpoint' in proc.stderr
