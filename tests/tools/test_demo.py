"""tools/demo.py (``make demo``) end to end with its default config, the
EfficientNet-Lite0 one, for 2 iterations on 4 training and 2 val photos of
coco128-seg: ImageNet weights loaded, both splits evaluated, the pictures
and the bases panel written at a readable size."""

import json
import os
import os.path as osp

import mmcv
import torch
from module_utils import load_module

from mmblend.models.backbones.efficientnet_lite import (
    convert_efficientnet_lite,
    packaged_weights_path,
)
from tiny_config import DATA_ROOT

demo = load_module('tools/demo.py', 'demo_tool')
TRAIN = [
    '000000000025.jpg',
    '000000000009.jpg',
    '000000000030.jpg',
    '000000000034.jpg',
]  # 25: the bases panel's photo


def subset(split: str, names, out_dir: str) -> list:
    """``instances_<split>.json`` of coco128-seg restricted to ``names``
    (the first ``len(names)`` images when ``names`` is an int)."""
    with open(osp.join(DATA_ROOT, f'instances_{split}.json')) as f:
        coco = json.load(f)
    images = (
        coco['images'][:names]
        if isinstance(names, int)
        else [im for im in coco['images'] if im['file_name'] in names]
    )
    ids = {im['id'] for im in images}
    coco.update(
        images=images,
        annotations=[a for a in coco['annotations'] if a['image_id'] in ids],
    )
    with open(osp.join(out_dir, f'instances_{split}.json'), 'w') as f:
        json.dump(coco, f)
    return [im['file_name'] for im in images]


def test_demo_runs_on_the_pretrained_backbone(tmp_path):
    assert (
        osp.basename(demo.DEFAULT_CONFIG)
        == 'blendmask-light_effnet-lite0_fpn_1xb8-800iter_coco128.py'
    )
    data = tmp_path / 'data'
    data.mkdir()
    os.symlink(osp.join(DATA_ROOT, 'images'), data / 'images')
    train = subset('train', TRAIN, str(data))
    assert sorted(train) == sorted(TRAIN)
    val = subset('val', 2, str(data))
    root = str(data) + '/'
    cfg = tmp_path / 'demo_small.py'
    cfg.write_text(
        f'_base_ = {demo.DEFAULT_CONFIG!r}\n'
        f'train_dataloader = dict(batch_size=2, num_workers=0, '
        f'persistent_workers=False, dataset=dict(data_root={root!r}))\n'
        f'val_dataloader = dict(num_workers=0, persistent_workers=False, '
        f'dataset=dict(data_root={root!r}))\n'
        'test_dataloader = val_dataloader\n'
        f'val_evaluator = dict(ann_file={root + "instances_val.json"!r})\n'
        'test_evaluator = val_evaluator\n'
    )
    work = str(tmp_path / 'work')
    summary = demo.main(
        [
            '--config',
            str(cfg),
            '--iters',
            '2',
            '--work-dir',
            work,
            '--num-vis',
            '2',
            '--sheet-rows',
            '2',
            '--seed',
            '3',
        ]
    )

    assert summary['iters'] == 2 and summary['seed'] == 3
    assert set(summary['metrics']) == {
        'train (88 imgs, fit)',
        'val (22 imgs, held out)',
    }
    with open(osp.join(work, 'metrics.json')) as f:
        assert json.load(f)['metrics'] == summary['metrics']
    # the ImageNet weights were loaded: the frozen backbone
    # (frozen_stages=4) still holds them after training
    ckpt = torch.load(
        osp.join(work, 'iter_2.pth'), map_location='cpu', weights_only=False
    )['state_dict']
    packaged = convert_efficientnet_lite(
        torch.load(packaged_weights_path('lite0'), weights_only=True), 'lite0'
    )
    frozen = list(packaged)
    assert len(frozen) > 200
    for key in frozen:
        assert torch.equal(ckpt['backbone.' + key], packaged[key]), key
    # one picture per photo and one sheet per split, 12.5 inches at 100
    # dpi; the panel is a real panel
    vis = osp.join(work, 'vis')
    expected = (
        [osp.join(vis, 'train_sheet.jpg')]
        + [osp.join(vis, 'train', n) for n in train[:2]]
        + [osp.join(vis, 'val_sheet.jpg')]
        + [osp.join(vis, 'val', n) for n in val]
    )
    assert summary['pictures'] == expected
    for path in expected:
        assert mmcv.imread(path).shape[1] == 1250, path
    panel = mmcv.imread(summary['bases_panel'])
    assert panel.shape[0] >= 400 and panel.shape[1] >= 1300
