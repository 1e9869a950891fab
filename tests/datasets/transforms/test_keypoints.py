"""The keypoint variants of mmdet's transforms against hand computations:
resize, flip (coordinates and the left/right swap), crop (shift, keypoints
outside made unlabelled, dropped instances), pad, the random resizes, and
packing."""

import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

import mmblend  # noqa: F401
from mmblend.datasets.coco_keypoint_dataset import flip_indices_from_names
from mmblend.datasets.transforms import flip_keypoints

# 5 keypoints: nose, left_eye, right_eye, left_ear, right_ear
NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear')
FLIP = flip_indices_from_names(NAMES)


def results(h=100, w=200):
    """Two people in a 100 x 200 image; keypoint 3 of the first and 4 of
    the second are unlabelled."""
    kps = np.array(
        [
            [
                [40.5, 20.5, 2],
                [30.5, 10.5, 2],
                [50.5, 12.5, 1],
                [0, 0, 0],
                [60, 30, 2],
            ],
            [
                [150, 60, 2],
                [140, 50, 1],
                [160, 52, 2],
                [130, 55, 2],
                [0, 0, 0],
            ],
        ],
        np.float32,
    )
    return dict(
        img=np.zeros((h, w, 3), np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        gt_bboxes=HorizontalBoxes(
            np.array([[20, 5, 70, 60], [120, 40, 180, 95]], np.float32)
        ),
        gt_bboxes_labels=np.array([0, 0]),
        gt_ignore_flags=np.array([False, False]),
        gt_keypoints=kps,
        flip_indices=list(FLIP),
    )


def build(cfg):
    return TRANSFORMS.build(cfg)


def test_flip_indices_pair_left_and_right():
    assert FLIP == [0, 2, 1, 4, 3]


def test_resize_scales_labelled_keypoints():
    out = build(
        dict(type='ResizeWithKeypoints', scale=(100, 25), keep_ratio=False)
    )(results())
    assert out['scale_factor'] == (0.5, 0.25)
    kps = out['gt_keypoints']
    np.testing.assert_allclose(kps[0, 0], [20.25, 5.125, 2])
    np.testing.assert_allclose(kps[1, 2], [80, 13, 2])
    np.testing.assert_array_equal(kps[0, 3], [0, 0, 0])
    # the box is scaled the same way
    np.testing.assert_allclose(out['gt_bboxes'].numpy()[0], [10, 1.25, 35, 15])


@pytest.mark.parametrize(
    'resize',
    [
        dict(
            type='RandomChoiceResize',
            scales=[(100, 50)],
            keep_ratio=True,
            resize_type='ResizeWithKeypoints',
        ),
        dict(
            type='RandomResize',
            scale=[(100, 50), (100, 50)],
            keep_ratio=True,
            resize_type='ResizeWithKeypoints',
        ),
    ],
)
def test_random_resizes_move_keypoints(resize):
    out = build(resize)(results())
    np.testing.assert_allclose(out['gt_keypoints'][0, 0], [20.25, 10.25, 2])


def test_horizontal_flip_mirrors_x_and_swaps_left_right():
    out = build(dict(type='RandomFlipWithKeypoints', prob=1.0))(results())
    kps = out['gt_keypoints']
    assert out['flip_direction'] == 'horizontal'
    np.testing.assert_allclose(kps[0, 0], [200 - 40.5, 20.5, 2])  # nose
    # the new left eye is the old right eye, mirrored, and vice versa
    np.testing.assert_allclose(kps[0, 1], [200 - 50.5, 12.5, 1])
    np.testing.assert_allclose(kps[0, 2], [200 - 30.5, 10.5, 2])
    # the unlabelled left ear of person 0 is now its right ear, unlabelled
    np.testing.assert_array_equal(kps[0, 4], [0, 0, 0])
    np.testing.assert_allclose(kps[0, 3], [140, 30, 2])
    # boxes use the same convention (x -> w - x)
    np.testing.assert_allclose(out['gt_bboxes'].numpy()[0], [130, 5, 180, 60])


def test_vertical_and_diagonal_flips():
    kps = results()['gt_keypoints']
    v = flip_keypoints(kps, (100, 200), 'vertical', FLIP)
    np.testing.assert_allclose(v[0, 1], [50.5, 100 - 12.5, 1])  # swapped
    d = flip_keypoints(kps, (100, 200), 'diagonal')  # a 180-degree turn
    np.testing.assert_allclose(d[0, 1], [200 - 30.5, 100 - 10.5, 2])
    np.testing.assert_array_equal(d[0, 3], [0, 0, 0])
    # flipping twice gives the keypoints back
    for direction in ('horizontal', 'vertical', 'diagonal'):
        twice = flip_keypoints(
            flip_keypoints(kps, (100, 200), direction, FLIP),
            (100, 200),
            direction,
            FLIP,
        )
        np.testing.assert_allclose(twice, kps)


def test_flip_without_flip_indices_is_refused():
    r = results()
    del r['flip_indices']
    with pytest.raises(KeyError, match='flip_indices'):
        build(dict(type='RandomFlipWithKeypoints', prob=1.0))(r)


def test_crop_shifts_and_drops_outside_keypoints():
    crop = build(dict(type='RandomCropWithKeypoints', crop_size=(120, 60)))
    crop._rand_offset = lambda margin: (10, 40)  # (y, x): x 40..160, y 10..70
    out = crop(results())
    assert out['img'].shape[:2] == (60, 120)
    assert len(out['gt_bboxes']) == 2  # both boxes overlap the crop
    kps = out['gt_keypoints']
    np.testing.assert_allclose(
        kps[0],
        [[0.5, 10.5, 2], [0, 0, 0], [10.5, 2.5, 1], [0, 0, 0], [20, 20, 2]],
    )  # left eye: x < 0
    # x = 120 is on the crop's right edge: inside, as detectron2
    np.testing.assert_allclose(
        kps[1],
        [[110, 50, 2], [100, 40, 1], [120, 42, 2], [90, 45, 2], [0, 0, 0]],
    )
    assert 'gt_instances_ids' not in out


def test_crop_after_resize_and_flip_uses_the_crop_offset():
    r = build(
        dict(type='ResizeWithKeypoints', scale=(400, 200), keep_ratio=False)
    )(results())
    r = build(dict(type='RandomFlipWithKeypoints', prob=1.0))(r)
    expected = r['gt_keypoints'].copy()
    crop = build(dict(type='RandomCropWithKeypoints', crop_size=(240, 160)))
    crop._rand_offset = lambda margin: (20, 150)
    out = crop(r)
    # person 0's nose: (40.5, 20.5) x 2 = (81, 41), flipped to x = 319
    np.testing.assert_allclose(expected[0, 0], [319, 41, 2])
    assert len(out['gt_bboxes']) == 2
    np.testing.assert_allclose(out['gt_keypoints'][0, 0], [169, 21, 2])


def test_crop_dropping_an_instance_drops_its_keypoints():
    crop = build(dict(type='RandomCropWithKeypoints', crop_size=(60, 40)))
    crop._rand_offset = lambda margin: (50, 130)  # only person 1's box
    r = results()
    r['gt_instances_ids'] = np.array([7, 9])
    out = crop(r)
    assert len(out['gt_bboxes']) == 1
    np.testing.assert_array_equal(out['gt_instances_ids'], [9])
    np.testing.assert_allclose(
        out['gt_keypoints'][0, 2], [160 - 130, 52 - 50, 2]
    )


def test_pad_keeps_keypoints():
    r = results()
    out = build(dict(type='Pad', size=(256, 128)))(r)
    assert out['img'].shape[:2] == (128, 256)
    np.testing.assert_array_equal(
        out['gt_keypoints'], results()['gt_keypoints']
    )


def test_pack_puts_keypoints_in_gt_and_ignored_instances():
    r = results()
    r['gt_ignore_flags'] = np.array([False, True])
    out = build(dict(type='PackDetInputsWithKeypoints'))(r)
    sample = out['data_samples']
    assert sample.gt_instances.keypoints.shape == (1, 5, 3)
    assert sample.ignored_instances.keypoints.shape == (1, 5, 3)
    np.testing.assert_allclose(
        sample.gt_instances.keypoints[0].numpy(), results()['gt_keypoints'][0]
    )


def test_load_annotations_with_keypoints():
    load = build(dict(type='LoadAnnotationsWithKeypoints', num_keypoints=5))
    kp = np.arange(15, dtype=np.float32).reshape(5, 3)
    out = load(
        dict(
            instances=[
                dict(
                    bbox=[0, 0, 10, 10],
                    bbox_label=0,
                    ignore_flag=0,
                    keypoints=kp,
                )
            ]
        )
    )
    np.testing.assert_array_equal(out['gt_keypoints'], kp[None])
    assert load(dict(instances=[]))['gt_keypoints'].shape == (0, 5, 3)
    with pytest.raises(ValueError, match='num_keypoints'):
        build(dict(type='LoadAnnotationsWithKeypoints'))(
            dict(
                instances=[
                    dict(
                        bbox=[0, 0, 1, 1],
                        bbox_label=0,
                        ignore_flag=0,
                        keypoints=kp,
                    )
                ]
            )
        )
    with pytest.raises(KeyError, match='CocoKeypointDataset'):
        load(
            dict(
                instances=[
                    dict(bbox=[0, 0, 1, 1], bbox_label=0, ignore_flag=0)
                ]
            )
        )
