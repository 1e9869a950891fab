"""CocoKeypointDataset on the real coco-mini-keypoints files: keypoints of
the original annotations (+0.5, unlabelled as zeros), metainfo, filters and
the errors on a file that does not fit."""

import json
import os.path as osp

import numpy as np
import pytest
from mmdet.registry import DATASETS
from mmengine.registry import init_default_scope

import mmblend  # noqa: F401
from mmblend.datasets.coco_keypoint_dataset import (
    COCO_KEYPOINT_NAMES,
    COCO_SKELETON,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(REPO, '..', 'shared', 'data', 'coco-mini-keypoints')
TRAIN = osp.join(DATA, 'person_keypoints_train.json')
pytestmark = pytest.mark.skipif(
    not osp.isdir(DATA), reason='shared coco-mini-keypoints absent'
)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmdet')


def build(ann_file=TRAIN, **kwargs):
    cfg = dict(
        type='CocoKeypointDataset',
        data_root=DATA,
        ann_file=ann_file,
        data_prefix=dict(img='images/train2017/'),
        pipeline=[],
        test_mode=True,
    )
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_keypoints_of_the_original_annotation():
    with open(TRAIN) as f:
        raw = json.load(f)
    ann = next(a for a in raw['annotations'] if a['id'] == 441444)
    ds = build()
    info = next(d for d in infos(ds) if d['img_id'] == ann['image_id'])
    assert len(info['instances']) == 1
    kps = info['instances'][0]['keypoints']
    expected = np.array(ann['keypoints'], np.float32).reshape(17, 3)
    labelled = expected[:, 2] > 0
    assert 0 < labelled.sum() < 17
    np.testing.assert_allclose(kps[labelled, :2], expected[labelled, :2] + 0.5)
    np.testing.assert_array_equal(kps[labelled, 2], expected[labelled, 2])
    np.testing.assert_array_equal(kps[~labelled], 0)
    assert info['flip_indices'][1] == 2 and info['flip_indices'][0] == 0


def test_metainfo_and_every_instance_has_keypoints():
    ds = build()
    meta = ds.metainfo
    assert tuple(meta['keypoint_names']) == COCO_KEYPOINT_NAMES
    assert tuple(meta['skeleton']) == COCO_SKELETON
    with open(TRAIN) as f:
        cat = json.load(f)['categories'][0]
    # the json's skeleton is 1-based
    assert [tuple(b - 1 for b in link) for link in cat['skeleton']] == list(
        COCO_SKELETON
    )
    assert len(meta['keypoint_sigmas']) == 17
    n_inst = sum(len(d['instances']) for d in infos(ds))
    assert n_inst == 147  # every person annotation of the split (README)
    labelled = sum(
        int((i['keypoints'][:, 2] > 0).sum())
        for d in infos(ds)
        for i in d['instances']
    )
    assert labelled == 800  # the README's count


def test_min_keypoints_filters_training_images():
    ds = build(
        test_mode=False, filter_cfg=dict(filter_empty_gt=True, min_keypoints=1)
    )
    assert len(ds) == 28
    ds = build(
        test_mode=False,
        filter_cfg=dict(filter_empty_gt=True, min_keypoints=15),
    )
    assert 0 < len(ds) < 28
    for info in infos(ds):
        assert (
            sum(
                int((i['keypoints'][:, 2] > 0).sum())
                for i in info['instances']
                if not i['ignore_flag']
            )
            >= 15
        )


def test_other_keypoint_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match='keypoint_names'):
        build(
            metainfo=dict(
                classes=('person',),
                keypoint_names=['a', 'b'],
                skeleton=[],
                keypoint_sigmas=[0.1, 0.1],
            )
        )


def test_instance_annotation_file_is_refused():
    ann = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'instances_train.json')
    with pytest.raises(ValueError, match='keypoint annotation file'):
        build(
            ann_file=ann,
            metainfo=dict(classes=('person',)),
            data_prefix=dict(img='images/train2017/'),
        )


def test_the_dataset_base_yields_keypoints(monkeypatch):
    """configs/_base_/datasets/coco_mini_keypoints.py (data root relative to
    the repository root): a training sample carries flipped-or-not
    keypoints through the whole train pipeline."""
    from mmengine.config import Config

    monkeypatch.chdir(REPO)
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs', '_base_', 'datasets', 'coco_mini_keypoints.py'
        )
    )
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (28, 32)
    sample = train[0]['data_samples']
    kps = sample.gt_instances.keypoints
    assert kps.shape[1:] == (17, 3) and (kps[..., 2] > 0).any()
    h, w = sample.img_shape
    shown = kps[kps[..., 2] > 0]
    assert (shown[:, 0] <= w).all() and (shown[:, 1] <= h).all()
    assert val[0]['data_samples'].gt_instances.keypoints.shape[1:] == (17, 3)
