"""LoadCheckedImageFromFile on real photos broken under their real names
(tests/datasets/bad_files.py): what each defect gives, skipping in training
(mmengine re-draws), the budget with 2 DataLoader workers and the test-mode
placeholder (which BadImageEvaluator scores:
tests/evaluation/test_bad_image_evaluator.py)."""

import logging
import os.path as osp
import sys

import numpy as np
import pytest
from mmdet.registry import DATASETS, TRANSFORMS
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader

from mmblend.datasets.transforms import (
    BadImageError,
    LoadCheckedImageFromFile,
    check_image_bytes,
)

# tests/datasets/bad_files.py (also used by tests/tools/test_bad_files_cli.py)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from bad_files import DEFECTS, KIND, make_dataset  # noqa: E402

PIPELINE = [
    dict(type='LoadCheckedImageFromFile'),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='PackDetInputs'),
]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp('bad'), num_images=8)


@pytest.fixture
def warnings_log():
    """Records what mmengine's current logger warns."""
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def _info(data, name, **extra):
    img = next(i for i in data['images'] if i['file_name'] == name)
    return dict(
        img_path=osp.join(data['img_dir'], name),
        img_id=img['id'],
        height=img['height'],
        width=img['width'],
        **extra,
    )


def _ds(data, test_mode=False, **kwargs):
    return DATASETS.build(
        dict(
            type='CocoInstanceDataset',
            data_root='',
            ann_file=data['ann_file'],
            data_prefix=dict(img=data['img_dir'] + '/'),
            test_mode=test_mode,
            pipeline=PIPELINE,
            **kwargs,
        )
    )


def test_registered_under_its_own_name():
    """`LoadCheckedImageFromFile` is ours; `LoadImageFromFile` stays mmcv's
    in mmdet's scope (the pipelines of every other detector)."""
    from mmcv.transforms import LoadImageFromFile

    assert (
        type(TRANSFORMS.build(dict(type='LoadCheckedImageFromFile')))
        is LoadCheckedImageFromFile
    )
    assert (
        type(TRANSFORMS.build(dict(type='LoadImageFromFile')))
        is LoadImageFromFile
    )


def test_each_defect_is_named(data, warnings_log):
    load = LoadCheckedImageFromFile()
    for name, defect in data['bad'].items():
        info = _info(data, name, sample_idx=0)
        assert load(dict(info)) is None, defect
        (msg,) = [m for m in warnings_log if info['img_path'] in m]
        assert f"image id {info['img_id']}" in msg and 'skipped' in msg
        assert load.bad[info['img_path']].kind == KIND[defect]
        warnings_log.clear()
    assert (
        'EXIF-rotated'
        in load.bad[_info(data, _name(data, 'exif'))['img_path']].reason
    )
    assert (
        "color_type='color_ignore_orientation'"
        in load.bad[_info(data, _name(data, 'exif'))['img_path']].reason
    )
    # a good photo loads as with mmcv's loader
    info = _info(data, data['good'][0], sample_idx=0)
    out = load(dict(info))
    assert out['img'].shape == (info['height'], info['width'], 3)
    mmcv_load = TRANSFORMS.build(dict(type='mmcv.LoadImageFromFile'))
    assert np.array_equal(out['img'], mmcv_load(dict(info))['img'])
    # each file is warned about once per process (per loader instance)
    warnings_log.clear()
    load = LoadCheckedImageFromFile()
    for _ in range(3):
        load(dict(_info(data, _name(data, 'html'), sample_idx=0)))
    assert len(warnings_log) == 1 and load.num_bad_loads == 3


def _name(data, defect):
    return next(n for n, d in data['bad'].items() if d == defect)


def test_what_mmcv_does_with_the_same_files(data):
    """Negative control: mmcv's loader fails on the broken files or, worse,
    decodes the truncated one and the wrong size silently."""
    mmcv_load = TRANSFORMS.build(dict(type='mmcv.LoadImageFromFile'))
    for defect in ('empty', 'html'):
        # any error: which one is mmcv's / OpenCV's business
        with pytest.raises(Exception):  # noqa: B017
            mmcv_load(_info(data, _name(data, defect)))
    for defect in ('size', 'exif'):
        info = _info(data, _name(data, defect))
        assert mmcv_load(dict(info))['img'].shape[:2] != (
            info['height'],
            info['width'],
        )


def test_exif_rotated_loads_with_ignore_orientation(data):
    info = _info(data, _name(data, 'exif'), sample_idx=0)
    load = LoadCheckedImageFromFile(color_type='color_ignore_orientation')
    out = load(info)
    assert out['img'].shape[:2] == (info['height'], info['width'])


def test_error_mode_and_inference_raise(data):
    info = _info(data, _name(data, 'truncated'))
    with pytest.raises(BadImageError, match='truncated JPEG') as e:
        LoadCheckedImageFromFile()(dict(info))  # no sample_idx: inference
    assert info['img_path'] in str(e.value)
    assert 'check_dataset.py' in str(e.value)
    with pytest.raises(BadImageError, match=f"image id {info['img_id']}"):
        LoadCheckedImageFromFile(on_bad='error')(dict(info, sample_idx=0))
    with pytest.raises(ValueError, match='on_bad'):
        LoadCheckedImageFromFile(on_bad='ignore')


def test_check_size_off_and_missing_file(data):
    info = _info(data, _name(data, 'size'), sample_idx=0)
    assert LoadCheckedImageFromFile(check_size=False)(dict(info)) is not None
    missing = dict(info, img_path=info['img_path'] + '.nope')
    with pytest.raises(FileNotFoundError):
        LoadCheckedImageFromFile()(dict(missing))
    assert LoadCheckedImageFromFile(ignore_empty=True)(dict(missing)) is None
    img, problem = check_image_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 50)
    assert img is None and problem.kind == 'undecodable'


def test_training_dataset_redraws_good_samples(data, warnings_log):
    ds = _ds(data, filter_cfg=dict(filter_empty_gt=True))
    good = {osp.join(data['img_dir'], n) for n in data['good']}
    for idx in range(len(ds)):
        sample = ds[idx]  # a bad index is replaced by another sample
        assert sample['data_samples'].img_path in good
    named = {
        p
        for p in (osp.join(data['img_dir'], n) for n in data['bad'])
        if any(p in m for m in warnings_log)
    }
    assert len(named) == len(data['bad'])


def test_budget_stops_mostly_corrupt_dataset(tmp_path):
    """8 of 10 files corrupt, 2 DataLoader workers: a clear error instead of
    endless re-draws."""
    bad = make_dataset(
        tmp_path,
        num_images=10,
        defects=DEFECTS + ('truncated', 'html', 'empty'),
    )
    assert len(bad['bad']) == 8
    ds = DATASETS.build(
        dict(
            type='CocoInstanceDataset',
            data_root='',
            ann_file=bad['ann_file'],
            data_prefix=dict(img=bad['img_dir'] + '/'),
            pipeline=[dict(type='LoadCheckedImageFromFile', min_loads=20)]
            + PIPELINE[1:],
        )
    )
    loader = DataLoader(
        ds,
        batch_size=2,
        num_workers=2,
        shuffle=True,
        collate_fn=pseudo_collate,
    )
    with pytest.raises(RuntimeError) as e:
        for _ in range(20):
            for _ in loader:
                pass
    msg = str(e.value)
    assert 'too many bad images' in msg
    assert (
        'this data-loading process' in msg
        and 'max_bad_fraction=0.05' in msg
        and 'check_dataset.py' in msg
    )
    assert any(osp.join(bad['img_dir'], n) in msg for n in bad['bad'])
    # the 20% of good files alone stay under a permissive budget: ~80% of
    # the loads are bad (a bad sample is redrawn at random until a good one
    # loads), judged after 100 loads (after 20, all-bad happened by chance)
    load = ds.pipeline.transforms[0]
    load.max_bad_fraction, load.min_loads = 0.95, 100
    load.num_loads = load.num_bad_loads = 0
    np.random.seed(0)  # mmengine's redraws
    for _ in range(4):
        for idx in range(len(ds)):
            ds[idx]
    assert load.num_loads >= 100


def test_test_mode_placeholder_and_fail_fast(data):
    ds = _ds(data, test_mode=True)
    name = _name(data, 'html')
    idx = next(
        i
        for i in range(len(ds))
        if ds.get_data_info(i)['img_path'].endswith(name)
    )
    sample = ds[idx]
    meta = sample['data_samples'].metainfo
    assert 'cannot be decoded' in meta['bad_image']
    assert meta['img_id'] == ds.get_data_info(idx)['img_id']
    assert meta['ori_shape'] == (
        ds.get_data_info(idx)['height'],
        ds.get_data_info(idx)['width'],
    )
    assert not sample['inputs'].any()  # black placeholder
    # good images are unmarked
    good = next(
        i
        for i in range(len(ds))
        if i != idx
        and not any(
            ds.get_data_info(i)['img_path'].endswith(n) for n in data['bad']
        )
    )
    assert 'bad_image' not in ds[good]['data_samples'].metainfo
    ds = _ds(data, test_mode=True, bad_image='error')
    with pytest.raises(BadImageError, match="bad_image='error'") as e:
        ds[idx]
    assert name in str(e.value)
