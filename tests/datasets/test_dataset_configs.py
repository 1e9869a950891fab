"""configs/_base_/datasets: every config loads, its types are registered,
and the bundled real datasets (coco128-seg in the repo, tiny-coco in the
shared data folder) build and yield instances with masks."""

import copy
import os
import os.path as osp

import pytest
from mmdet.registry import DATASETS, METRICS, TRANSFORMS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmblend  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(REPO, 'configs', '_base_', 'datasets')
TINY_COCO = osp.join(REPO, '..', 'shared', 'data', 'tiny-coco')

CONFIGS = sorted(f for f in os.listdir(CFG_DIR) if f.endswith('.py'))


@pytest.fixture(autouse=True)
def _scope_and_cwd(monkeypatch):
    init_default_scope('mmdet')
    monkeypatch.chdir(REPO)  # data roots are relative to the repo root


def _pipelines(cfg):
    found = []

    def walk(node):
        if isinstance(node, dict):
            if 'pipeline' in node:
                found.append(node['pipeline'])
            for v in node.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walk(cfg.get(key))
    return found


def _dataset_types(node):
    out = []
    while isinstance(node, dict):
        out.append(node['type'])
        node = node.get('dataset')
    return out


@pytest.mark.parametrize('name', CONFIGS)
def test_config_loads_and_types_registered(name):
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    pipelines = _pipelines(cfg)
    assert pipelines, name
    for pipeline in pipelines:
        for t in pipeline:
            assert TRANSFORMS.get(t['type']) is not None, t['type']
    for key in ('val_dataloader', 'test_dataloader'):
        if key in cfg:
            for t in _dataset_types(cfg[key]['dataset']):
                assert DATASETS.get(t) is not None, t
    if 'train_dataloader' in cfg:
        for t in _dataset_types(cfg.train_dataloader.dataset):
            assert DATASETS.get(t) is not None, t
    for key in ('val_evaluator', 'test_evaluator'):
        if key in cfg:
            assert METRICS.get(cfg[key]['type']) is not None
    assert isinstance(cfg.img_scale, tuple) and len(cfg.img_scale) == 2


def test_specific_settings():
    coco = Config.fromfile(osp.join(CFG_DIR, 'coco_instance.py'))
    assert coco.data_root == 'data/coco/'
    assert coco.val_evaluator.metric == ['bbox', 'segm']
    load = [t for t in coco.train_pipeline if t.type == 'LoadAnnotations']
    assert load[0].poly2mask is False and load[0].with_mask
    assert [t.type for t in coco.train_pipeline][2:4] == [
        'Resize',
        'RandomFlip',
    ]
    assert coco.train_pipeline[2].scale == (1333, 800)

    ms = Config.fromfile(osp.join(CFG_DIR, 'coco_instance_ms.py'))
    rcr = ms.train_dataloader.dataset.pipeline[2]
    assert rcr.type == 'RandomChoiceResize'
    assert [s[1] for s in rcr.scales] == [640, 672, 704, 736, 768, 800]
    assert ms.test_dataloader.dataset.pipeline[1].scale == (1333, 800)

    # 550 (BlendMask-RT, AdelaiDet's 550 model): every pipeline at 550
    rt = Config.fromfile(osp.join(CFG_DIR, 'coco_instance_ms_550.py'))
    rcr = rt.train_dataloader.dataset.pipeline[2]
    assert rcr.type == 'RandomChoiceResize'
    assert rcr.scales == [(916, s) for s in range(440, 551, 22)]
    for key in ('val_dataloader', 'test_dataloader'):
        assert rt[key].dataset.pipeline[1].scale == (916, 550)
    assert [t.scale for t in rt.tta_pipeline[1].transforms[0]] == [
        (916, 550),
        (1145, 688),
    ]

    td = Config.fromfile(osp.join(CFG_DIR, 'coco_instance_testdev.py'))
    assert td.test_evaluator.format_only is True
    assert td.test_evaluator.outfile_prefix
    assert td.test_dataloader.dataset.ann_file.endswith(
        'annotations/image_info_test-dev2017.json'
    )
    assert td.test_dataloader.dataset.data_prefix.img == 'test2017/'
    assert not any(
        t.type == 'LoadAnnotations'
        for t in td.test_dataloader.dataset.pipeline
    )

    lv = Config.fromfile(osp.join(CFG_DIR, 'lvis_v1_instance.py'))
    assert lv.train_dataloader.dataset.type == 'ClassBalancedDataset'
    assert lv.train_dataloader.dataset.oversample_thr == 1e-3
    assert lv.train_dataloader.dataset.dataset.type == 'LVISV1Dataset'
    assert lv.val_evaluator.type == 'CompatLVISMetric'

    cf = Config.fromfile(osp.join(CFG_DIR, 'lvis_cocofied_instance.py'))
    assert cf.test_dataloader.dataset.type == 'CocoDataset'
    assert cf.test_evaluator.type == 'CocoMetric'
    assert cf.test_evaluator.ann_file.endswith('_cocofied.json')


@pytest.mark.parametrize(
    'config',
    [
        'blendmask-rt_r50_fpn_ms-550-3x_coco.py',
        'adelaidet_zoo/blendmask_r50-caffe_fpn_ms-550-3x_coco.py',
    ],
)
def test_550_configs_take_the_550_base(config):
    """BlendMask-RT and AdelaiDet's 550 model: the data of
    coco_instance_ms_550.py (one copy of the 550-px pipelines)."""
    base = Config.fromfile(osp.join(CFG_DIR, 'coco_instance_ms_550.py'))
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset == base[key].dataset, key
    assert cfg.tta_pipeline == base.tta_pipeline


def test_img_scale_override_with_redeclared_pipeline(tmp_path):
    child = tmp_path / 'child.py'
    child.write_text(
        f"_base_ = ['{osp.join(CFG_DIR, 'coco128_instance.py')}']\n"
        'img_scale = (640, 384)\n'
        'test_pipeline = [dict(type="LoadImageFromFile"),\n'
        '    dict(type="Resize", scale=img_scale, keep_ratio=True)]\n'
        'val_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n'
    )
    cfg = Config.fromfile(str(child))
    assert cfg.val_dataloader.dataset.pipeline[1].scale == (640, 384)
    assert cfg.val_dataloader.dataset.data_root == 'demo/data/coco128-seg/'


def _build(cfg_name, split, scale=(320, 320)):
    cfg = Config.fromfile(osp.join(CFG_DIR, cfg_name))
    ds_cfg = copy.deepcopy(cfg[f'{split}_dataloader'].dataset)
    for t in ds_cfg.pipeline:  # keep the test fast
        if t.type == 'Resize':
            t.scale = scale
    return DATASETS.build(ds_cfg)


def test_coco128_builds_with_real_images():
    val = _build('coco128_instance.py', 'val')
    assert len(val) == 22
    out = val[0]
    sample = out['data_samples']
    assert tuple(out['inputs'].shape[1:]) == sample.img_shape
    assert max(sample.img_shape) == 320
    gt = sample.gt_instances
    assert len(gt) == len(gt.bboxes) == len(gt.masks) > 0
    assert type(gt.masks).__name__ == 'PolygonMasks'  # poly2mask=False
    assert gt.masks.to_ndarray().any(axis=(1, 2)).all()
    train = _build('coco128_instance.py', 'train')
    # 88 images, filter_empty_gt drops the background image 000000000250
    assert len(train) == 87
    sample = train[3]['data_samples']
    assert len(sample.gt_instances.masks) == len(sample.gt_instances)


@pytest.mark.skipif(
    not osp.isdir(TINY_COCO), reason='shared tiny-coco data not present'
)
def test_tiny_coco_crowd_and_multi_polygon():
    train = _build('tiny_coco_instance.py', 'train')
    assert len(train) == 13
    crowd_idx = multi_idx = None
    for i in range(len(train)):
        info = train.get_data_info(i)
        for inst in info['instances']:
            if inst['ignore_flag'] and isinstance(inst['mask'], dict):
                crowd_idx = i
            if (
                isinstance(inst['mask'], list)
                and len(inst['mask']) > 1
                and not inst['ignore_flag']
                and multi_idx is None
            ):
                multi_idx = i
    assert crowd_idx is not None and multi_idx is not None

    # the crowd RLE region: ignore_flag=1 -> ignored_instances, not in gt
    info = train.get_data_info(crowd_idx)
    n_ok = sum(1 for inst in info['instances'] if not inst['ignore_flag'])
    n_ign = len(info['instances']) - n_ok
    sample = train[crowd_idx]['data_samples']
    assert len(sample.gt_instances) == n_ok
    assert len(sample.ignored_instances) == n_ign >= 1

    # a multi-polygon object stays ONE instance with several polygons
    info = train.get_data_info(multi_idx)
    valid = [inst for inst in info['instances'] if not inst['ignore_flag']]
    n_parts = [len(inst['mask']) for inst in valid]
    sample = train[multi_idx]['data_samples']
    gt = sample.gt_instances
    assert len(gt) == len(valid)
    assert [len(p) for p in gt.masks.masks] == n_parts
    assert max(n_parts) > 1
    assert gt.masks.to_ndarray().any(axis=(1, 2)).all()

    val = _build('tiny_coco_instance.py', 'val')
    assert len(val) == 3
    assert len(val[0]['data_samples'].gt_instances.masks) > 0
