"""Inference the way mmdet users do it, on a real photo: init_detector +
inference_detector, DetInferencer (pictures and json in ``out_dir``), and
tools/image_demo.py (and what it says about bad input)."""

import json
import os.path as osp
import shutil
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
    assert pred.bboxes[:, 2].max() <= w + 1
    assert pred.bboxes[:, 3].max() <= h + 1


def test_det_inferencer_writes_picture_and_json(checkpoint, tmp_path):
    inferencer = DetInferencer(model=CONFIG, weights=checkpoint, device='cpu')
    out = inferencer(
        PHOTO,
        out_dir=str(tmp_path),
        no_save_pred=False,
        pred_score_thr=0.0,
        return_vis=True,
    )
    assert len(out['predictions'][0]['masks']) > 0
    vis = tmp_path / 'vis' / osp.basename(PHOTO)
    img = mmcv.imread(str(vis))
    assert img.shape == mmcv.imread(PHOTO).shape
    # the masks were drawn: the picture differs from the photo
    assert np.abs(img.astype(int) - mmcv.imread(PHOTO).astype(int)).mean() > 1
    pred = json.loads(
        (
            tmp_path
            / 'preds'
            / (osp.splitext(osp.basename(PHOTO))[0] + '.json')
        ).read_text()
    )
    assert len(pred['masks']) == len(pred['bboxes']) > 0


def image_demo(*args):
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'image_demo.py')]
        + [str(a) for a in args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_image_demo_script(checkpoint, tmp_path):
    photos = tmp_path / 'photos'
    photos.mkdir()
    shutil.copy(PHOTO, photos)
    (photos / 'notes.txt').write_text('not an image')
    proc = image_demo(
        photos,
        CONFIG,
        '--weights',
        checkpoint,
        '--out-dir',
        tmp_path / 'out',
        '--pred-score-thr',
        '0',
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '1 image(s): results written' in proc.stdout
    assert (tmp_path / 'out' / 'vis' / osp.basename(PHOTO)).is_file()
    proc = image_demo('missing.jpg', CONFIG, '--weights', checkpoint)
    assert (
        proc.returncode != 0 and "input 'missing.jpg' not found" in proc.stderr
    )


def test_image_demo_says_what_is_wrong(checkpoint, tmp_path):
    """No image in the folder, an image that does not decode, a checkpoint
    of another config: a message and exit status 1, nothing written."""
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'notes.txt').write_text('not an image')
    proc = image_demo(empty, CONFIG, '--weights', checkpoint)
    assert proc.returncode == 1 and 'error: no image (.jpg' in proc.stderr
    assert f"in folder '{empty}'" in proc.stderr
    html = tmp_path / 'page.jpg'
    html.write_text('<html><body>404</body></html>')
    proc = image_demo(html, CONFIG, '--weights', checkpoint)
    assert proc.returncode == 1 and f"bad image '{html}'" in proc.stderr
    assert 'HTML' in proc.stderr
    cfg = Config.fromfile(CONFIG)
    cfg.model.bbox_head.num_classes = 3
    cfg.model.mask_head.basis.num_classes = 3
    other = str(tmp_path / 'other_classes.py')
    cfg.dump(other)
    proc = image_demo(
        PHOTO, other, '--weights', checkpoint, '--out-dir', tmp_path / 'out'
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'tensors unloaded (4 of another shape' in proc.stderr
    assert not (tmp_path / 'out').exists()
