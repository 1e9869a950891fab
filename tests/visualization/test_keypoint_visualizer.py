"""KeypointDetLocalVisualizer draws the skeleton of ground-truth and
predicted keypoints (links between shown keypoints, nothing for hidden or
low-score ones), and is what mmdet's tools build from our configs."""

import os.path as osp

import numpy as np
import torch
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

import mmblend  # noqa: F401
from mmblend.datasets.coco_keypoint_dataset import COCO_KEYPOINT_NAMES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
H, W = 120, 160
# left shoulder (5) -> left elbow (7) -> left wrist (9): two links
ARM = (5, 7, 9)
_count = 0


def keypoints():
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, 5] = [40, 30, 2]
    kps[0, 7] = [40, 70, 2]
    kps[0, 9] = [100, 70, 1]
    kps[0, 0] = [130, 20, 0]  # an unlabelled nose: not drawn
    return kps


def draw(instances, field, **kwargs):
    global _count
    _count += 1  # a new instance (visualisers are named singletons)
    vis = VISUALIZERS.build(
        dict(
            type='KeypointDetLocalVisualizer',
            name=f'kp_test{_count}',
            **kwargs,
        )
    )
    vis.dataset_meta = dict(
        classes=('person',),
        keypoint_names=COCO_KEYPOINT_NAMES,
        skeleton=[(5, 7), (7, 9), (0, 1)],
    )
    sample = DetDataSample()
    setattr(sample, field, instances)
    vis.add_datasample(
        'x',
        np.zeros((H, W, 3), np.uint8),
        sample,
        draw_gt=field == 'gt_instances',
        draw_pred=field == 'pred_instances',
        show=False,
        pred_score_thr=0.3,
    )
    return vis.get_image()


def lit(img, x, y):
    return img[int(y), int(x)].sum() > 0


def test_ground_truth_skeleton():
    gt = InstanceData(
        bboxes=torch.zeros(1, 4),
        labels=torch.tensor([0]),
        keypoints=torch.from_numpy(keypoints()),
    )
    img = draw(gt, 'gt_instances')
    for j in ARM:
        x, y = keypoints()[0, j, :2]
        assert lit(img, x, y), j
    assert lit(img, 40, 50)  # the shoulder-elbow link
    assert lit(img, 70, 70)  # the elbow-wrist link
    assert not lit(img, 130, 20)  # unlabelled
    assert not lit(img, 70, 50)  # no link there


def test_predictions_below_the_keypoint_threshold_are_not_drawn():
    scores = torch.full((1, 17), 0.9)
    scores[0, 9] = 0.01  # the wrist: below kpt_thr
    pred = InstanceData(
        bboxes=torch.zeros(1, 4),
        labels=torch.tensor([0]),
        scores=torch.tensor([0.8]),
        keypoints=torch.from_numpy(keypoints()[..., :2]),
        keypoint_scores=scores,
    )
    img = draw(pred, 'pred_instances', kpt_thr=0.05)
    # (the other keypoints are at (0, 0): their circles reach over the
    # border, which must not shift the picture)
    assert lit(img, 40, 30) and lit(img, 40, 50)
    assert not lit(img, 100, 70) and not lit(img, 70, 70)
    # an instance under pred_score_thr is not drawn at all
    pred.scores[:] = 0.1
    assert draw(pred, 'pred_instances').sum() == 0


def test_configs_use_it():
    for path in (
        'configs/keypoints/'
        'blendmask-kp_r50_fpn_ms-3x_coco-person-keypoints.py',
        'configs/keypoints/blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py',
    ):
        cfg = Config.fromfile(osp.join(REPO, path))
        assert cfg.visualizer.type == 'KeypointDetLocalVisualizer'
