"""Inference the way mmdet users do it, on a real photo: init_detector +
inference_detector, DetInferencer, and tools/image_demo.py."""
import json
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmdet.apis import DetInferencer, inference_detector, init_detector
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import save_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'tests', 'configs', 'blendmask_tiny_coco128.py')
PHOTO = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'images', 'train2017',
                 '000000000009.jpg')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint as mmengine writes it (weights + dataset meta)."""
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    save_checkpoint(model.state_dict(), path)
    return path


def test_init_detector_and_inference_detector(checkpoint):
    model = init_detector(CONFIG, checkpoint, device='cpu')
    result = inference_detector(model, PHOTO)
    h, w = mmcv.imread(PHOTO).shape[:2]
    pred = result.pred_instances
    assert len(pred) > 0
    assert pred.masks.shape == (len(pred), h, w)
    assert pred.bboxes.shape == (len(pred), 4)
    assert (pred.scores <= 1).all() and (pred.labels < 80).all()
    # boxes are in original-image pixels
    assert pred.bboxes[:, 2].max() <= w + 1 and pred.bboxes[:, 3].max() <= h + 1


def test_det_inferencer_writes_picture_and_json(checkpoint, tmp_path):
    inferencer = DetInferencer(model=CONFIG, weights=checkpoint, device='cpu')
    out = inferencer(PHOTO, out_dir=str(tmp_path), no_save_pred=False,
                     pred_score_thr=0.0, return_vis=True)
    assert len(out['predictions'][0]['masks']) > 0
    vis = tmp_path / 'vis' / osp.basename(PHOTO)
    img = mmcv.imread(str(vis))
    assert img.shape == mmcv.imread(PHOTO).shape
    # the masks were drawn: the picture differs from the photo
    assert np.abs(img.astype(int) - mmcv.imread(PHOTO).astype(int)).mean() > 1
    pred = json.loads((tmp_path / 'preds' /
                       (osp.splitext(osp.basename(PHOTO))[0] +
                        '.json')).read_text())
    assert len(pred['masks']) == len(pred['bboxes']) > 0


def test_image_demo_script(checkpoint, tmp_path):
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'image_demo.py'), PHOTO,
         CONFIG, '--weights', checkpoint, '--out-dir', str(tmp_path),
         '--pred-score-thr', '0'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'vis' / osp.basename(PHOTO)).is_file()
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'image_demo.py'),
         'missing.jpg', CONFIG, '--weights', checkpoint],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "input 'missing.jpg' not found" in \
        proc.stderr
