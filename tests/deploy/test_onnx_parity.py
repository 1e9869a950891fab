"""ONNX export parity on real photos with a trained checkpoint.

The tiny BlendMask (tests/configs/blendmask_tiny.py) is trained on four
coco128 photos (as tests/integration/test_fit_real_data.py does), exported
on one photo, and run by onnxruntime (``OnnxDetector``) on photos of other
sizes next to PyTorch (``inference_detector``).
"""

import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmdet.apis import inference_detector, init_detector
from mmengine.runner import Runner
from module_utils import load_module

from mmblend.deploy.matching import cut_intervals, match_detections

ort = pytest.importorskip('onnxruntime')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTOS = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'images', 'train2017')
EXPORT_PHOTO = '000000000034.jpg'  # 640x425: input (h, w) 160x224 padded
# other padded input sizes (h, w): 192x160, 224x160, 160x192; 42 has the
# export photo's padded size and another img_shape
COMPARE_PHOTOS = (
    '000000000073.jpg',
    '000000000064.jpg',
    '000000000138.jpg',
    '000000000042.jpg',
)
SCORE_THR = 0.02  # on sigmoid(cls) * sigmoid(ctr): >= 5 per photo
ITERS = 120


def same_detections(ref, out, max_per_img: int):
    """Match PyTorch's and onnxruntime's detections (by label and box IoU;
    near-ties and the score / top-k cuts tolerated) and assert they agree:
    boxes within 1e-3 relative, scores within 1e-4, mask IoU >= 0.99."""
    match = match_detections(
        ref,
        out,
        score_intervals=cut_intervals(
            ref, out, max_per_img, (SCORE_THR**0.5,) * 2
        ),
        names=('PyTorch', 'onnxruntime'),
    )
    assert match.ok, '\n'.join(match.problems)
    return match


def _fit_module():
    return load_module(
        'tests/integration/test_fit_real_data.py', 'fit_real_data'
    )


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(config, checkpoint) of the tiny model after ITERS iterations."""
    fit = _fit_module()
    tmp = tmp_path_factory.mktemp('onnx_fit')
    cfg = fit.fit_config(fit.subset(tmp), str(tmp / 'work'), iters=ITERS)
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    runner.save_checkpoint(str(tmp), 'tiny.pth', save_optimizer=False)
    cfg.model.test_cfg.score_thr = SCORE_THR
    return cfg, str(tmp / 'tiny.pth')


@pytest.fixture(scope='module')
def exported(trained, tmp_path_factory):
    cfg, ckpt = trained
    out = str(tmp_path_factory.mktemp('onnx') / 'tiny.onnx')
    cfg_file = out.replace('.onnx', '_cfg.py')
    cfg.dump(cfg_file)
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'deployment', 'export_onnx.py'),
            cfg_file,
            ckpt,
            '--out',
            out,
            '--image',
            osp.join(PHOTOS, EXPORT_PHOTO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'wrote' in proc.stdout, proc.stdout
    return cfg_file, ckpt, out


def test_onnxruntime_matches_pytorch_on_other_photos(exported):
    from mmblend.deploy import OnnxDetector

    cfg_file, ckpt, onnx_file = exported
    model = init_detector(cfg_file, ckpt, device='cpu')
    det = OnnxDetector(onnx_file, cfg_file)
    max_per_img = model.test_cfg.max_per_img
    shapes = set()
    for name in COMPARE_PHOTOS:
        path = osp.join(PHOTOS, name)
        ref = inference_detector(model, path)
        out = det(path)
        shapes.add(tuple(out.metainfo['batch_input_shape']))
        r, o = ref.pred_instances, out.pred_instances
        assert len(r) >= 5, (name, len(r))  # it detects something
        assert o.masks.dtype == torch.bool
        assert (
            o.masks.shape[1:]
            == r.masks.shape[1:]
            == tuple(out.metainfo['ori_shape'][:2])
        )
        match = same_detections(r, o, max_per_img)
        print(
            name,
            tuple(out.metainfo['batch_input_shape']),
            len(r),
            len(o),
            match.summary(),
        )
        assert len(match.pairs) >= min(len(r), len(o)) - 2, (
            name,
            match.summary(),
        )
        assert r.masks.flatten(1).any(dim=1).sum() >= 3  # masks not empty
    assert len(shapes) >= 3, shapes  # other input sizes than the export's


def test_bgr_array_equals_path(exported):
    import mmcv

    from mmblend.deploy import OnnxDetector

    cfg_file, _, onnx_file = exported
    det = OnnxDetector(onnx_file, cfg_file)
    path = osp.join(PHOTOS, COMPARE_PHOTOS[0])
    a = det(path).pred_instances
    b = det(mmcv.imread(path)).pred_instances
    assert torch.equal(a.bboxes, b.bboxes) and torch.equal(a.masks, b.masks)


def test_no_detection(exported):
    """A black image and a zero image size (every box clipped to nothing)
    run the graph's empty paths: NMS, top layer and blender with D = 0."""
    import numpy as np

    from mmblend.deploy import OnnxDetector

    cfg_file, ckpt, onnx_file = exported
    det = OnnxDetector(onnx_file, cfg_file)
    inputs, _ = det.preprocess(osp.join(PHOTOS, COMPARE_PHOTOS[0]))
    boxes, scores, labels, masks = det.run(inputs, torch.tensor([0, 0]))
    assert boxes.shape == (0, 4) and scores.shape == labels.shape == (0,)
    assert masks.shape[0] == 0 and masks.shape[1] == masks.shape[2] > 1
    black = np.zeros((300, 400, 3), np.uint8)
    model = init_detector(cfg_file, ckpt, device='cpu')
    r = inference_detector(model, black).pred_instances
    o = det(black).pred_instances
    assert o.masks.shape == (len(o), 300, 400)
    same_detections(r, o, 100)
