"""BlendMaskPanoptic on the real COCO panoptic sample (2 val2017 photos):
mmdet's CocoPanopticMetric on the model's own predictions, in-process and
through tools/train.py + tools/test.py (PNG predictions + PQ table)."""

import copy
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, METRICS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(
    REPO,
    'configs',
    'panoptic',
    'blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py',
)
SAMPLE = osp.join(
    REPO, '..', 'shared', 'data', 'coco_panoptic_sample', 'sample_data'
)
PQ_KEYS = (
    'PQ',
    'SQ',
    'RQ',
    'PQ_th',
    'SQ_th',
    'RQ_th',
    'PQ_st',
    'SQ_st',
    'RQ_st',
)

pytestmark = pytest.mark.skipif(
    not osp.isdir(SAMPLE), reason='shared coco_panoptic_sample not present'
)


def _rgb2id(png):
    png = png.astype(np.int64)
    return png[..., 0] + 256 * png[..., 1] + 256 * 256 * png[..., 2]


def _check_png_predictions(prefix, gt_json):
    """``<prefix>.panoptic.json`` + one RGB PNG per image whose ids are
    exactly the json's segments (VOID = 0), at the image size."""
    with open(f'{prefix}.panoptic.json') as f:
        pred = json.load(f)
    images = {i['id']: i for i in gt_json['images']}
    assert sorted(a['image_id'] for a in pred['annotations']) == sorted(images)
    for ann in pred['annotations']:
        png = np.array(Image.open(f'{prefix}.panoptic/{ann["file_name"]}'))
        img = images[ann['image_id']]
        assert png.shape == (img['height'], img['width'], 3)
        ids = _rgb2id(png)
        seg_ids = {s['id'] for s in ann['segments_info']}
        assert set(np.unique(ids)) - {0} == seg_ids
        for s in ann['segments_info']:
            assert (ids == s['id']).sum() == s['area']
    return pred


def test_coco_panoptic_metric_on_model_predictions(tmp_path):
    cfg = Config.fromfile(CFG)
    # a low fusion threshold: the untrained model's things reach the PNGs
    cfg.model.test_cfg.score_thr = 0.0
    cfg.model.test_cfg.panoptic.instance_score_thr = 0.05
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    evaluator = copy.deepcopy(cfg.test_evaluator)
    prefix = str(tmp_path / 'pred')
    evaluator.outfile_prefix = prefix
    metric = METRICS.build(evaluator)
    metric.dataset_meta = dataset.metainfo
    with torch.no_grad():
        for i in range(len(dataset)):
            data = pseudo_collate([dataset[i]])
            outputs = model.test_step(data)
            assert 'pred_panoptic_seg' in outputs[0]
            metric.process(data, [o.to_dict() for o in outputs])
    res = metric.evaluate(len(dataset))
    for k in PQ_KEYS:
        assert 0.0 <= res[f'coco_panoptic/{k}'] <= 100.0, (k, res)
    with open(osp.join(SAMPLE, 'panoptic_examples.json')) as f:
        gt = json.load(f)
    pred = _check_png_predictions(prefix, gt)
    cats = {c['id']: c['isthing'] for c in gt['categories']}
    segs = [s for a in pred['annotations'] for s in a['segments_info']]
    # COCO category ids; things (from instances) were written
    assert all(s['category_id'] in cats for s in segs)
    assert any(cats[s['category_id']] for s in segs)


def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    env['CUDA_VISIBLE_DEVICES'] = ''
    env['OMP_NUM_THREADS'] = '1'
    env['MKL_NUM_THREADS'] = '1'
    return env


def _run(args):
    proc = subprocess.run(
        [sys.executable] + [str(a) for a in args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def test_train_then_test_cli_writes_pngs_and_pq_table(tmp_path):
    """tools/train.py (2 iterations, no validation) then tools/test.py on
    the sample config: the panoptic losses are logged, the PNGs are written
    to ``test_evaluator.outfile_prefix`` and the PQ table is printed."""
    work = tmp_path / 'work'
    out = _run(
        [
            'tools/train.py',
            CFG,
            '--work-dir',
            work,
            '--cfg-options',
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=2',
        ]
    )
    losses = re.findall(r'Iter\(train\) \[\s*(\d)/2\].*', out)
    assert losses == ['1', '2'], out[-3000:]
    for line in re.findall(r'Iter\(train\) \[\s*\d/2\].*', out):
        for name in ('loss_seg', 'loss_sem', 'loss_mask', 'loss_cls'):
            value = re.search(name + r': (\S+)', line).group(1)
            assert np.isfinite(float(value)), line
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file(), glob.glob(str(work / '*'))

    prefix = tmp_path / 'test' / 'results'
    out = _run(
        [
            'tools/test.py',
            CFG,
            ckpt,
            '--work-dir',
            tmp_path / 'test',
            '--cfg-options',
            f'test_evaluator.outfile_prefix={prefix}',
        ]
    )
    assert 'Panoptic Evaluation Results' in out, out[-3000:]
    assert (
        re.search(r'\|\s*All\s*\|', out)
        and re.search(r'\|\s*Things\s*\|', out)
        and re.search(r'\|\s*Stuff\s*\|', out)
    )
    pq = float(re.search(r'coco_panoptic/PQ: (\S+)', out).group(1))
    assert 0.0 <= pq <= 100.0
    with open(osp.join(SAMPLE, 'panoptic_examples.json')) as f:
        gt = json.load(f)
    _check_png_predictions(str(prefix), gt)
