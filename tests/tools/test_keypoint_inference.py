"""Keypoints the way mmdet users infer, on a real photo: DetInferencer (what
tools/image_demo.py runs) with the keypoint config predicts keypoints and
draws each detection's skeleton with the config's visualiser."""

import os.path as osp
import subprocess
import sys

import numpy as np
import torch
from mmdet.apis import DetInferencer
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmblend.datasets import CocoKeypointDataset
from mmblend.visualization import KeypointDetLocalVisualizer
from mmblend.visualization.keypoint_visualizer import SIDE_COLORS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    REPO,
    'configs',
    'keypoints',
    'blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py',
)
PHOTO = osp.join(
    REPO,
    'demo',
    'data',
    'coco128-seg',
    'images',
    'train2017',
    '000000000009.jpg',
)


def checkpoint(tmp_path):
    """Random weights, saved as mmengine does with the dataset's meta (the
    skeleton the visualiser draws)."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    path = str(tmp_path / 'kp.pth')
    save_checkpoint(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=CocoKeypointDataset._load_metainfo()),
        ),
        path,
    )
    return path


def test_det_inferencer_draws_skeletons(tmp_path):
    inferencer = DetInferencer(
        model=CONFIG, weights=checkpoint(tmp_path), device='cpu'
    )
    vis = inferencer.visualizer
    assert isinstance(vis, KeypointDetLocalVisualizer)
    assert len(vis.dataset_meta['skeleton']) == 19
    # untrained: keep detections and draw every keypoint
    inferencer.model.bbox_head.test_cfg.score_thr = 0.0
    vis.kpt_thr = 0.0
    out = inferencer(
        PHOTO,
        pred_score_thr=0.0,
        return_vis=True,
        return_datasamples=True,
        no_save_vis=True,
        no_save_pred=True,
    )
    pred = out['predictions'][0].pred_instances
    picture = out['visualization'][0]  # RGB
    assert len(pred) > 0 and pred.keypoints.shape == (len(pred), 17, 2)
    # the last detection is drawn on top: at each of its keypoints the
    # colour (left green, right orange, centre blue) of the last of its
    # keypoints whose circle (radius 3) covers that pixel
    names = vis.dataset_meta['keypoint_names']
    sides = [n.split('_')[0] if '_' in n else 'centre' for n in names]
    kps = pred.keypoints[-1]
    h, w = picture.shape[:2]
    inside = [
        j
        for j, (x, y) in enumerate(kps.tolist())
        if 3 <= x < w - 3 and 3 <= y < h - 3
    ]
    assert inside
    for j in inside:
        x, y = int(kps[j, 0]), int(kps[j, 1])
        centre = torch.tensor([x + 0.5, y + 0.5])
        top = max(i for i in inside if (kps[i] - centre).norm() < 2)
        np.testing.assert_allclose(
            picture[y, x], SIDE_COLORS[sides[top]], atol=40
        )


def test_image_demo_runs_the_keypoint_config(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'image_demo.py'),
            PHOTO,
            CONFIG,
            '--weights',
            checkpoint(tmp_path),
            '--out-dir',
            str(tmp_path),
            '--pred-score-thr',
            '0',
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'vis' / osp.basename(PHOTO)).is_file()
