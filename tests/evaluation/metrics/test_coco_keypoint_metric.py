"""CocoKeypointMetric against pycocotools on a hand-made example: the
ground truth as prediction gives keypoint AP 1.0; a shifted keypoint gives
the OKS of the COCO formula, which is pycocotools' own, and the AP that
follows from it."""

import json
import math

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmblend.datasets.coco_keypoint_dataset import (
    COCO_KEYPOINT_NAMES,
    COCO_KEYPOINT_SIGMAS,
)
from mmblend.evaluation import CocoKeypointMetric

BOXES = {1: [20, 30, 80, 100], 2: [50, 10, 60, 120]}  # xywh
AREA = 5000.0


def keypoints_of(img_id):
    """17 x (x, y, v) integer pixel indices; 2 labelled in image 1 (nose,
    left eye), 12 in image 2."""
    kps = np.zeros((17, 3))
    x, y, w, h = BOXES[img_id]
    n = 2 if img_id == 1 else 12
    for j in range(n):
        kps[j] = [x + 5 + 4 * j, y + 10 + 7 * j, 2 if j % 3 else 1]
    return kps


def write_gt(tmp_path, ids=tuple(BOXES)):
    images = [
        dict(id=i, file_name=f'{i}.jpg', width=200, height=150) for i in ids
    ]
    anns = []
    for i in ids:
        box = BOXES[i]
        kps = keypoints_of(i)
        anns.append(
            dict(
                id=10 + i,
                image_id=i,
                category_id=1,
                bbox=box,
                area=AREA,
                iscrowd=0,
                segmentation=[],
                num_keypoints=int((kps[:, 2] > 0).sum()),
                keypoints=[int(v) for v in kps.reshape(-1)],
            )
        )
    cats = [
        dict(
            id=1,
            name='person',
            keypoints=list(COCO_KEYPOINT_NAMES),
            skeleton=[],
        )
    ]
    path = tmp_path / 'gt.json'
    path.write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats))
    )
    return str(path)


def sample(img_id, shift=None):
    """A prediction equal to the ground truth, in the model's continuous
    coordinates (+0.5), optionally with keypoint ``shift[0]`` moved by
    ``shift[1]``."""
    x, y, w, h = BOXES[img_id]
    kps = keypoints_of(img_id)[:, :2] + 0.5
    if shift is not None:
        kps[shift[0]] += shift[1]
    pred = dict(
        bboxes=torch.tensor([[x, y, x + w, y + h]], dtype=torch.float),
        scores=torch.tensor([0.9]),
        labels=torch.tensor([0]),
        keypoints=torch.tensor(kps, dtype=torch.float)[None],
        keypoint_scores=torch.full((1, 17), 0.5),
    )
    return dict(img_id=img_id, ori_shape=(150, 200), pred_instances=pred)


def evaluate(ann_file, samples, **kwargs):
    metric = CocoKeypointMetric(
        ann_file=ann_file, metric=['bbox', 'keypoints'], **kwargs
    )
    metric.dataset_meta = dict(classes=('person',))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_ground_truth_as_prediction_gives_ap_1(tmp_path):
    res = evaluate(write_gt(tmp_path), [sample(1), sample(2)])
    for key in (
        'keypoints_mAP',
        'keypoints_mAP_50',
        'keypoints_mAP_75',
        'bbox_mAP',
    ):
        assert res[f'coco/{key}'] == 1.0, (key, res)
    assert res['coco/keypoints_mAP_m'] == 1.0  # area 5000: medium
    assert res['coco/keypoints_mAP_l'] == -1.0  # no large person


def test_a_shifted_keypoint_gives_the_oks_of_pycocotools(tmp_path):
    ann = write_gt(tmp_path, ids=(1,))
    shift = (0, np.array([3.0, 3.5]))  # the nose of the 2-keypoint person
    res = evaluate(
        ann, [sample(1, shift)], outfile_prefix=str(tmp_path / 'res')
    )
    # COCO's OKS by hand: mean over the labelled keypoints of
    # exp(-d^2 / (2 * area * (2 * sigma)^2))
    d2 = float((shift[1] ** 2).sum())
    oks = (
        math.exp(-d2 / (2 * AREA * (2 * COCO_KEYPOINT_SIGMAS[0]) ** 2)) + 1
    ) / 2
    assert 0.7 < oks < 0.75
    # pycocotools computes the same on the file the metric wrote
    gt = COCO(ann)
    dt = gt.loadRes(str(tmp_path / 'res.keypoints.json'))
    coco_eval = COCOeval(gt, dt, 'keypoints')
    coco_eval.evaluate()
    assert coco_eval.ious[(1, 1)][0, 0] == pytest.approx(oks, abs=1e-6)
    # one person, one detection: matched at each OKS threshold <= oks
    expected = np.mean([oks >= t for t in np.linspace(0.5, 0.95, 10)])
    assert res['coco/keypoints_mAP'] == pytest.approx(expected)  # 0.5
    assert res['coco/keypoints_mAP_50'] == 1.0
    assert res['coco/keypoints_mAP_75'] == 0.0
    assert res['coco/bbox_mAP'] == 1.0  # the box is exact


def test_written_keypoints_are_coco_pixel_indices(tmp_path):
    ann = write_gt(tmp_path)
    evaluate(ann, [sample(2)], outfile_prefix=str(tmp_path / 'res'))
    written = json.loads((tmp_path / 'res.keypoints.json').read_text())
    kps = np.array(written[0]['keypoints']).reshape(17, 3)
    np.testing.assert_allclose(kps[:12, :2], keypoints_of(2)[:12, :2])
    np.testing.assert_allclose(kps[:, 2], 0.5)  # the keypoint scores
    assert written[0]['score'] == pytest.approx(0.9)


def test_no_detection_gives_ap_0(tmp_path):
    s = sample(1)
    s['pred_instances'] = {k: v[:0] for k, v in s['pred_instances'].items()}
    res = evaluate(write_gt(tmp_path), [s])
    assert res['coco/keypoints_mAP'] == 0.0


def test_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match='ann_file'):
        CocoKeypointMetric(metric=['keypoints'])
    s = sample(1)
    del s['pred_instances']['keypoints']
    with pytest.raises(KeyError, match='keypoint_head'):
        evaluate(write_gt(tmp_path), [s])
