"""inference_detector / DetInferencer on a 2-D (grayscale) array of a real
photo: the model sees the gray image as 3 equal channels
(GrayAwareDetDataPreprocessor), exactly as for the 3-channel array."""

import os.path as osp

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
PHOTO = osp.join(
    REPO,
    'demo',
    'data',
    'coco128-seg',
    'images',
    'train2017',
    '000000000009.jpg',
)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    save_checkpoint(model.state_dict(), path)
    return path


@pytest.fixture(scope='module')
def gray():
    img = mmcv.imread(PHOTO, flag='grayscale')
    assert img.ndim == 2
    return img


def _same(a, b):
    assert len(a) == len(b) > 0
    assert torch.allclose(a.bboxes, b.bboxes) and torch.equal(
        a.labels, b.labels
    )
    assert torch.allclose(a.scores, b.scores)


def test_inference_detector_on_2d_array(checkpoint, gray):
    model = init_detector(CONFIG, checkpoint, device='cpu')
    pred = inference_detector(model, gray).pred_instances
    ref = inference_detector(model, np.stack([gray] * 3, -1)).pred_instances
    _same(pred, ref)
    assert pred.masks.shape[1:] == gray.shape


def test_det_inferencer_on_2d_array(checkpoint, gray):
    inferencer = DetInferencer(model=CONFIG, weights=checkpoint, device='cpu')
    out = inferencer(gray, return_datasamples=True)
    ref = inferencer(np.stack([gray] * 3, -1), return_datasamples=True)
    _same(
        out['predictions'][0].pred_instances,
        ref['predictions'][0].pred_instances,
    )


def test_mmdets_preprocessor_fails_on_it(checkpoint, gray):
    """Negative control: what mmdet's DetDataPreprocessor does."""
    cfg = Config.fromfile(CONFIG)
    cfg.model.data_preprocessor.type = 'DetDataPreprocessor'
    model = init_detector(cfg, checkpoint, device='cpu')
    with pytest.raises(IndexError):
        inference_detector(model, gray)
