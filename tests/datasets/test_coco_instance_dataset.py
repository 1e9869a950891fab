"""Bad input gives a clear error or a correct skip, never a crash deep in
torch or a NaN loss.

Fixtures are small modified copies of the real bundled annotations
(demo/data/coco128-seg, and the shared tiny-coco with its crowd RLE region)
written to tmp_path; images are read from the original folders.
"""

import copy
import json
import os.path as osp
import re

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mmblend.datasets import CocoInstanceDataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
C128 = osp.join(REPO, 'demo', 'data', 'coco128-seg')
C128_IMG = 'images/train2017/'
TINY = osp.join(REPO, '..', 'shared', 'data', 'tiny-coco', 'small_coco')
TINY_CFG = osp.join(REPO, 'tests', 'configs', 'blendmask_tiny.py')
RUNTIME = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')
SCALE = (128, 128)

TRAIN_PIPELINE = [
    dict(type='LoadCheckedImageFromFile'),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='Resize', scale=SCALE, keep_ratio=True),
    dict(type='PackDetInputs'),
]
BOX_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs'),
]
NO_ANN_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmdet')


def _load(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def c128():
    """coco128-seg train: its first 4 images + the background image 250
    + image 81 (one annotation) + image 472 (one annotation)."""
    full = _load(osp.join(C128, 'instances_train.json'))
    keep = [9, 25, 30, 34, 250, 81, 472]
    out = {k: v for k, v in full.items() if k not in ('images', 'annotations')}
    out['images'] = sorted(
        (i for i in full['images'] if i['id'] in keep),
        key=lambda i: keep.index(i['id']),
    )
    out['annotations'] = [
        a for a in full['annotations'] if a['image_id'] in keep
    ]
    assert len(out['images']) == len(keep)
    return out


def _write(tmp_path, data, name='ann.json'):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _ds(
    ann_file,
    data_root=C128,
    img=C128_IMG,
    test_mode=False,
    filter_empty_gt=True,
    pipeline=TRAIN_PIPELINE,
    dataset_type=None,
    **kwargs,
):
    cfg = dict(
        type=dataset_type or 'CocoInstanceDataset',
        data_root=data_root,
        ann_file=ann_file,
        data_prefix=dict(img=img),
        test_mode=test_mode,
        pipeline=copy.deepcopy(pipeline),
        **kwargs,
    )
    if not test_mode:
        cfg['filter_cfg'] = dict(filter_empty_gt=filter_empty_gt, min_size=1)
    return DATASETS.build(cfg)


def _ids(ds):
    return [ds.get_data_info(i)['img_id'] for i in range(len(ds))]


# ---------------------------------------------------------------- files
def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        _ds('annotations/nope.json', data_root=str(tmp_path))
    msg = str(e.value)
    assert osp.join(str(tmp_path), 'annotations/nope.json') in msg
    assert "data_root='" in msg and "ann_file='annotations/nope.json'" in msg
    assert '`data_root` and `ann_file`' in msg


def test_truncated_json(tmp_path, c128):
    text = json.dumps(c128)
    path = _write(tmp_path, text[: len(text) // 2])
    with pytest.raises(ValueError, match='is not valid JSON') as e:
        _ds(path)
    assert path in str(e.value) and 'truncated' in str(e.value)
    with pytest.raises(ValueError, match='holds a JSON list'):
        _ds(_write(tmp_path, [c128], 'list.json'))


@pytest.mark.parametrize('key', ['images', 'annotations', 'categories'])
def test_missing_top_level_key(tmp_path, c128, key):
    data = {k: v for k, v in c128.items() if k != key}
    path = _write(tmp_path, data)
    with pytest.raises(
        ValueError, match=f"lacks the key\\(s\\) \\['{key}'\\]"
    ) as e:
        _ds(path)
    assert path in str(e.value)
    if key == 'annotations':
        # an image-info file (COCO test-dev) is fine for a test-mode dataset
        # that loads no annotations
        ds = _ds(path, test_mode=True, pipeline=NO_ANN_PIPELINE)
        assert len(ds) == len(c128['images'])
        assert all(
            not ds.get_data_info(i)['instances'] for i in range(len(ds))
        )
        with pytest.raises(ValueError, match='lacks the key'):
            _ds(path, test_mode=True)  # but its pipeline loads annotations


def test_entries_without_required_keys(tmp_path, c128):
    data = copy.deepcopy(c128)
    ann = data['annotations'][3]
    del ann['area']
    with pytest.raises(ValueError) as e:
        _ds(_write(tmp_path, data))
    msg = str(e.value)
    assert f"annotations[3] (id {ann['id']}) without ['area']" in msg
    data = copy.deepcopy(c128)
    del data['images'][1]['file_name']
    with pytest.raises(
        ValueError,
        match=r"images\[1\] \(id 25\) without "
        r"\['file_name'\]",
    ):
        _ds(_write(tmp_path, data))
    data = copy.deepcopy(c128)
    data['annotations'][0]['bbox'] = [1, 2, 3]
    with pytest.raises(ValueError, match='not \\[x, y, width, height\\]'):
        _ds(_write(tmp_path, data))


def test_no_image_at_all(tmp_path, c128):
    data = dict(c128, images=[], annotations=[])
    with pytest.raises(ValueError, match="lists no image"):
        _ds(_write(tmp_path, data), test_mode=True)


# --------------------------------------------------------------- images
def _first_batch_error(ds):
    loader = DataLoader(
        ds,
        batch_size=2,
        num_workers=0,
        shuffle=False,
        collate_fn=pseudo_collate,
    )
    with pytest.raises(FileNotFoundError) as e:
        for _ in loader:
            pass
    return str(e.value)


def test_missing_image_file(tmp_path, c128):
    data = copy.deepcopy(c128)
    data['images'][1]['file_name'] = 'missing_000000000025.jpg'
    path = _write(tmp_path, data)
    missing = osp.join(C128, C128_IMG, 'missing_000000000025.jpg')
    # mmcv's LoadImageFromFile itself names the path (plain CocoDataset)
    msg = _first_batch_error(_ds(path, dataset_type='CocoDataset'))
    assert missing in msg
    # ours adds the image id, the annotation file and the keys to fix
    msg = _first_batch_error(_ds(path))
    assert f"'{missing}'" in msg and 'image id 25' in msg and path in msg
    assert "data_prefix['img']='images/train2017/'" in msg
    assert '`data_root`/`data_prefix`' in msg
    # a wrong image folder is found when the dataset is built
    with pytest.raises(
        FileNotFoundError, match='first image file not found'
    ) as e:
        _ds(path, img='train2017/')
    assert osp.join(C128, 'train2017', '000000000009.jpg') in str(e.value)


# --------------------------------------------- degenerate / empty / crowd
def test_zero_area_boxes_are_skipped(tmp_path, c128):
    data = copy.deepcopy(c128)
    anns = {a['image_id']: [] for a in data['annotations']}
    for a in data['annotations']:
        anns[a['image_id']].append(a)
    assert len(anns[81]) == 1 and len(anns[9]) > 2
    anns[81][0]['bbox'][2] = 0.0  # the only box of image 81: zero width
    anns[9][0]['area'] = 0  # zero area
    anns[9][1]['bbox'][3] = 0.5  # height < 1
    anns[9][2]['bbox'][:2] = [5000, 5000]  # outside the image
    path = _write(tmp_path, data)
    train = _ds(path)
    assert 81 not in _ids(train) and 250 not in _ids(train)
    info = train.get_data_info(_ids(train).index(9))
    assert len(info['instances']) == len(anns[9]) - 3
    kept = [inst['bbox'] for inst in info['instances']]
    for a in anns[9][:3]:
        x, y, w, h = a['bbox']
        assert [x, y, x + w, y + h] not in kept
    test = _ds(path, test_mode=True)
    assert _ids(test) == [i['id'] for i in c128['images']]
    assert test.get_data_info(_ids(test).index(81))['instances'] == []
    # the pipeline output of a kept image has no degenerate box
    gt = train[_ids(train).index(9)]['data_samples'].gt_instances
    wh = gt.bboxes.widths, gt.bboxes.heights
    assert len(gt) == len(anns[9]) - 3 and (wh[0] > 0).all()


@pytest.mark.skipif(not osp.isdir(TINY), reason='shared tiny-coco absent')
def test_crowd_only_and_empty_images(tmp_path):
    full = _load(osp.join(TINY, 'instances_train.json'))
    crowd = [a for a in full['annotations'] if a['iscrowd']]
    assert len(crowd) == 1 and isinstance(crowd[0]['segmentation'], dict)
    crowd_img = crowd[0]['image_id']
    keep = [crowd_img, 5802, 60623]
    data = dict(full, images=[i for i in full['images'] if i['id'] in keep])
    data['annotations'] = crowd + [  # 60623: no annotation at all
        a for a in full['annotations'] if a['image_id'] == 5802
    ]
    path = _write(tmp_path, data)
    kw = dict(data_root=TINY, img='train_2017_small/')
    train = _ds(path, **kw)
    assert _ids(train) == [5802]
    # mmdet 3.3's own filter keeps the crowd-only image (only drops 60623)
    ref = _ds(path, dataset_type='CocoDataset', **kw)
    assert sorted(_ids(ref)) == sorted([crowd_img, 5802])
    test = _ds(path, test_mode=True, **kw)
    assert sorted(_ids(test)) == sorted(keep)
    # crowd region: an ignored instance, no GT
    keep_all = _ds(path, filter_empty_gt=False, **kw)
    sample = keep_all[_ids(keep_all).index(crowd_img)]['data_samples']
    assert len(sample.gt_instances) == 0
    assert len(sample.ignored_instances) == 1
    sample = keep_all[_ids(keep_all).index(60623)]['data_samples']
    assert len(sample.gt_instances) == 0 == len(sample.ignored_instances)
    # nothing usable at all -> clear error, not an empty training set
    data['annotations'] = crowd
    with pytest.raises(ValueError, match='no image of annotation file') as e:
        _ds(_write(tmp_path, data, 'crowd.json'), **kw)
    assert 'of 3 images, 3 have no usable' in str(e.value)


# ---------------------------------------------------------------- masks
def test_annotations_without_segmentation(tmp_path, c128):
    data = copy.deepcopy(c128)
    a1, a2 = data['annotations'][1], data['annotations'][5]
    del a1['segmentation']
    a2['segmentation'] = []
    path = _write(tmp_path, data)
    with pytest.raises(ValueError) as e:
        _ds(path)
    msg = str(e.value)
    assert "2 annotations in " in msg and "have no 'segmentation'" in msg
    name = f"'{a1['image_id']:012d}.jpg'"
    assert (
        f"annotation id {a1['id']} (image id {a1['image_id']}, {name})" in msg
    )
    assert f"annotation id {a2['id']}" in msg
    assert "missing_mask='skip'" in msg
    # test-mode datasets that load masks are checked as well
    with pytest.raises(ValueError, match="have no 'segmentation'"):
        _ds(path, test_mode=True)
    # opt-in skip: the instances are dropped with a warning
    with pytest.warns(UserWarning, match="missing_mask='skip'"):
        ds = _ds(path, missing_mask='skip')
    n = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert n == len(data['annotations']) - 2
    out = ds[0]['data_samples'].gt_instances
    assert len(out.masks) == len(out)
    # a box-only pipeline does not need masks
    ds = _ds(path, pipeline=BOX_PIPELINE)
    n = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert n == len(data['annotations'])
    # crowd/degenerate annotations without segmentation are not instances
    data = copy.deepcopy(c128)
    data['annotations'][0]['segmentation'] = []
    data['annotations'][0]['area'] = 0
    assert len(_ds(_write(tmp_path, data, 'b.json'))) == 6


# -------------------------------------------------------------- classes
def test_class_list_mismatch(tmp_path, c128):
    path = _write(tmp_path, c128)
    with pytest.raises(ValueError, match='none of the 2 classes') as e:
        _ds(path, metainfo=dict(classes=('cat_a', 'cat_b')))
    assert "'person', 'bicycle'" in str(e.value)
    with pytest.raises(ValueError, match="no category named 'persn'"):
        _ds(path, metainfo=dict(classes=('persn', 'car')))
    with pytest.raises(ValueError, match="classes=\\('person', 'car'\\)"):
        _ds(path, metainfo=dict(classes=('car', 'person')))
    with pytest.raises(TypeError, match="write \\('person',\\)"):
        _ds(path, metainfo=dict(classes='person'))
    # a custom file with other names and no metainfo: the default COCO
    # classes match nothing
    data = copy.deepcopy(c128)
    for c in data['categories']:
        c['name'] = 'x_' + c['name']
    with pytest.raises(
        ValueError, match='default classes of CocoInstanceDataset'
    ):
        _ds(_write(tmp_path, data, 'renamed.json'))
    data['categories'][2]['name'] = data['categories'][1]['name']
    with pytest.raises(ValueError, match="several categories named"):
        _ds(
            _write(tmp_path, data, 'dup.json'),
            metainfo=dict(classes=('x_bicycle',)),
        )
    # a subset in file order is fine; labels follow the classes
    ds = _ds(path, metainfo=dict(classes=('airplane', 'giraffe')))
    labels = {
        ds.get_data_info(i)['img_id']: {
            inst['bbox_label'] for inst in ds.get_data_info(i)['instances']
        }
        for i in range(len(ds))
    }
    assert labels == {81: {0}, 472: {0}, 25: {1}} and ds.cat_ids == [5, 25]


# ------------------------------------------------------------- training
def _model():
    cfg = Config.fromfile(TINY_CFG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def _losses(model, ds, indices):
    loader = DataLoader(
        torch.utils.data.Subset(ds, indices),
        batch_size=2,
        num_workers=0,
        shuffle=False,
        collate_fn=pseudo_collate,
    )
    out = []
    for batch in loader:
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        assert all(torch.isfinite(v) for v in losses.values()), losses
        model.zero_grad()
        sum(losses.values()).backward()
        assert all(
            torch.isfinite(p.grad).all()
            for p in model.parameters()
            if p.grad is not None
        )
        out.append((batch['data_samples'], losses))
    return out


@pytest.mark.skipif(not osp.isdir(TINY), reason='shared tiny-coco absent')
def test_training_step_on_skipped_input_is_finite(tmp_path, c128):
    """Real dataloader (num_workers=0), 128 px, batch 2, filter_empty_gt off:
    batch 1 has no GT at all (coco128 image 81 whose only box has zero
    width + the tiny-coco image whose only annotation is its real crowd RLE
    region), batch 2 = coco128 image 250 (no annotation) + image 9 with
    three degenerate boxes among valid ones."""
    data = copy.deepcopy(c128)
    anns9 = [a for a in data['annotations'] if a['image_id'] == 9]
    anns9[0]['area'] = 0
    anns9[1]['bbox'][2] = 0.5
    anns9[2]['bbox'][:2] = [5000, 5000]
    for a in data['annotations']:
        if a['image_id'] == 81:
            a['bbox'][2] = 0.0
    c128_ds = _ds(_write(tmp_path, data), filter_empty_gt=False)
    full = _load(osp.join(TINY, 'instances_train.json'))
    crowd = [a for a in full['annotations'] if a['iscrowd']]
    tiny = dict(
        full,
        annotations=crowd,
        images=[i for i in full['images'] if i['id'] == crowd[0]['image_id']],
    )
    tiny_ds = _ds(
        _write(tmp_path, tiny, 'crowd.json'),
        data_root=TINY,
        img='train_2017_small/',
        filter_empty_gt=False,
    )
    ds = torch.utils.data.ConcatDataset([c128_ds, tiny_ds])
    ids = _ids(c128_ds)
    model = _model()
    (s1, l1), (s2, l2) = _losses(
        model, ds, [ids.index(81), len(c128_ds), ids.index(250), ids.index(9)]
    )
    assert [len(s.gt_instances) for s in s1] == [0, 0]  # no GT at all
    assert [len(s.ignored_instances) for s in s1] == [0, 1]  # crowd RLE
    assert l1['loss_mask'].item() == 0.0
    assert max(s1[0].img_shape) == 128
    assert [len(s.gt_instances) for s in s2] == [0, len(anns9) - 3]
    assert l2['loss_mask'].item() > 0


# ---------------------------------------------------------------- hooks
def _runner_cfg(tmp_path, ann_file, classes=None, pipeline=TRAIN_PIPELINE):
    runtime = Config.fromfile(RUNTIME)
    dataset = dict(
        type='CocoInstanceDataset',
        data_root=C128,
        ann_file=ann_file,
        data_prefix=dict(img=C128_IMG),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=copy.deepcopy(pipeline),
    )
    if classes:
        dataset['metainfo'] = dict(classes=classes)
    return Config(
        dict(
            default_scope='mmdet',
            model=Config.fromfile(TINY_CFG).model,
            work_dir=str(tmp_path / 'work'),
            train_dataloader=dict(
                batch_size=2,
                num_workers=0,
                sampler=dict(type='InfiniteSampler', shuffle=False),
                dataset=dataset,
            ),
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=2),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
            custom_hooks=runtime.custom_hooks,
            log_level='WARNING',
        )
    )


def test_class_count_mismatch_stops_before_first_iteration(tmp_path, c128):
    cfg = _runner_cfg(
        tmp_path,
        _write(tmp_path, c128),
        classes=('airplane', 'zebra', 'giraffe'),
    )
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as e:
        runner.train()
    assert runner.iter == 0
    msg = str(e.value)
    assert 'class-count mismatch' in msg and '3 classes' in msg
    assert 'model.bbox_head.num_classes=80' in msg
    assert 'model.mask_head.basis.num_classes=80' in msg
    assert "'airplane', 'zebra', 'giraffe'" in msg
    assert re.search(
        r'set model\.bbox_head\.num_classes=3 and '
        r'model\.mask_head\.basis\.num_classes=3',
        msg,
    )


def test_pipeline_without_masks_stops_before_first_iteration(tmp_path, c128):
    cfg = _runner_cfg(tmp_path, _write(tmp_path, c128), pipeline=BOX_PIPELINE)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'LoadAnnotations.*with_mask=True'):
        runner.train()
    assert runner.iter == 0


def test_runtime_config_has_the_checks():
    types = [h['type'] for h in Config.fromfile(RUNTIME).custom_hooks]
    assert types == ['DatasetCheckHook', 'FiniteLossHook']
    for name in (
        'coco_instance.py',
        'coco128_instance.py',
        'tiny_coco_instance.py',
        'coco_instance_ms.py',
        'coco_instance_ms_550.py',
        'coco_instance_testdev.py',
    ):
        cfg = Config.fromfile(
            osp.join(REPO, 'configs', '_base_', 'datasets', name)
        )
        for key in ('train_dataloader', 'test_dataloader'):
            assert cfg[key].dataset.type == 'CocoInstanceDataset'
    assert DATASETS.get('CocoInstanceDataset') is CocoInstanceDataset
