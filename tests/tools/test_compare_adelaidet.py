"""tools/analysis_tools/compare_adelaidet.py.

Its ``torchvision`` stand-in, against torchvision's CPU semantics written
out here from torchvision's sources (``csrc/ops/cpu/nms_kernel.cpp``,
``roi_align_kernel.cpp``, ``ops/boxes.py``): NMS compares the float IoU with
the threshold as a double, ``batched_nms`` runs per class above 4000
coordinates and with the coordinate offsets below, and ``roi_align`` samples
(aligned or not) as torchvision does, for boxes leaving the feature map too.
The stand-ins exist in ``sys.modules`` only inside ``reference_imports``.

The comparison itself needs AdelaiDet's and detectron2's sources and takes
minutes: it runs only when ``MMBLEND_ADELAIDET_SRC`` names a directory with
``AdelaiDet/``, ``detectron2/`` and ``deps/`` (docs/adelaidet.md).
"""

import math
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from module_utils import load_module

tool = load_module(
    'tools/analysis_tools/compare_adelaidet.py', 'compare_adelaidet'
)
bilinear = load_module(
    'tests/models/layers/test_blender.py', 'test_blender'
).bilinear
SRC = os.environ.get('MMBLEND_ADELAIDET_SRC')


@pytest.fixture(scope='module')
def tv():
    return tool._torchvision_shim()['torchvision']


def torchvision_nms(boxes, scores, thr):
    """torchvision's nms_kernel_impl: float32 arithmetic, the IoU compared
    with the threshold as a double."""
    b = boxes.numpy().astype(np.float32)
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = scores.sort(0, descending=True)[1].tolist()
    suppressed, keep = set(), []
    for n, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[n + 1 :]:
            if j in suppressed:
                continue
            w = max(
                np.float32(0), min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
            )
            h = max(
                np.float32(0), min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
            )
            inter = np.float32(w * h)
            iou = np.float32(inter / np.float32(areas[i] + areas[j] - inter))
            if float(iou) > thr:
                suppressed.add(j)
    return torch.tensor(keep, dtype=torch.long)


def random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 300
    wh = torch.rand(n, 2, generator=g) * 80 + 1
    # quantised so that many pairs have IoUs exactly on float32 values
    boxes = torch.cat([xy, xy + wh], 1).round()
    return (
        boxes,
        torch.rand(n, generator=g),
        torch.randint(0, 5, (n,), generator=g),
    )


def test_nms_compares_the_threshold_as_a_double(tv):
    # IoU 60/100: float32(0.6) > 0.6 as a double, so torchvision suppresses
    # the second box; mmcv's float threshold alone would keep it
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 6.0]])
    scores = torch.tensor([0.9, 0.8])
    from mmcv.ops import nms as mmcv_nms

    assert len(mmcv_nms(boxes, scores, 0.6)[1]) == 2
    assert tv.ops.nms(boxes, scores, 0.6).tolist() == [0]
    # IoU 50/100 == 0.5 exactly: kept by both
    half = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]])
    assert tv.ops.nms(half, scores, 0.5).tolist() == [0, 1]
    for thr in (0.3, 0.5, 0.6, 0.7):
        boxes, scores, _ = random_boxes(300, seed=1)
        assert torch.equal(
            tv.ops.nms(boxes, scores, thr), torchvision_nms(boxes, scores, thr)
        )


@pytest.mark.parametrize('n', [1000, 1001])  # 4000 coordinates and above
def test_batched_nms_follows_torchvision_dispatch(monkeypatch, n):
    import mmcv.ops

    calls, real = [], mmcv.ops.nms
    monkeypatch.setattr(
        mmcv.ops, 'nms', lambda *a: calls.append(1) or real(*a)
    )
    box_ops = tool._torchvision_shim()['torchvision.ops.boxes']
    boxes, scores, labels = random_boxes(n, seed=n)
    boxes = boxes + 0.3  # not integers: the class offsets round
    if n * 4 > 4000:  # per class on CPU
        keep = torch.cat(
            [
                torch.where(labels == c)[0][
                    torchvision_nms(
                        boxes[labels == c], scores[labels == c], 0.6
                    )
                ]
                for c in labels.unique()
            ]
        )
        want = keep[scores[keep].sort(descending=True)[1]]
    else:  # one NMS over class-offset boxes
        shift = labels.to(boxes) * (boxes.max() + torch.tensor(1).to(boxes))
        want = torchvision_nms(boxes + shift[:, None], scores, 0.6)
    assert torch.equal(box_ops.batched_nms(boxes, scores, labels, 0.6), want)
    assert len(calls) == (len(labels.unique()) if n > 1000 else 1)
    assert (
        len(box_ops.batched_nms(boxes[:0], scores[:0], labels[:0], 0.6)) == 0
    )


def torchvision_roi_align(feat, roi, out, scale, ratio, aligned):
    """torchvision's roi_align_forward_kernel_impl for one roi: the average
    of ``ratio x ratio`` bilinear samples per bin (the same bilinear sample
    as mmcv's, test_blender.py's ``bilinear``)."""
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (v * scale - off for v in roi[1:].tolist())
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bh, bw = rh / out, rw / out
    gh = ratio if ratio > 0 else math.ceil(rh / out)
    gw = ratio if ratio > 0 else math.ceil(rw / out)
    res = torch.zeros(feat.shape[0], out, out, dtype=torch.float64)
    for ph in range(out):
        for pw in range(out):
            res[:, ph, pw] = sum(
                bilinear(
                    feat.double(),
                    y1 + ph * bh + (iy + 0.5) * bh / gh,
                    x1 + pw * bw + (ix + 0.5) * bw / gw,
                )
                for iy in range(gh)
                for ix in range(gw)
            ) / max(gh * gw, 1)
    return res


@pytest.mark.parametrize('aligned,ratio', [(True, 1), (True, 0), (False, 2)])
def test_roi_align_samples_like_torchvision(tv, aligned, ratio):
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 3, 9, 13, generator=g)
    # inside, leaving the map on the left/top and right/bottom (unclipped
    # FCOS boxes), and a small one; input pixels at stride 4
    rois = torch.tensor(
        [
            [0, 5.0, 6.0, 30.0, 25.0],
            [1, -20.0, -9.0, 17.0, 22.0],
            [0, 31.0, 18.0, 70.0, 51.0],
            [1, 8.0, 8.0, 9.5, 10.0],
        ]
    )
    got = tv.ops.roi_align(feat, rois, 5, 0.25, ratio, aligned)
    for k, roi in enumerate(rois):
        want = torchvision_roi_align(
            feat[int(roi[0])], roi, 5, 0.25, ratio, aligned
        )
        torch.testing.assert_close(got[k].double(), want, atol=1e-5, rtol=1e-5)


def test_stand_ins_only_inside_reference_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, 'path', list(sys.path))
    for name in ('adet', 'detectron2'):
        (tmp_path / name).mkdir()
    before = {
        k: sys.modules.get(k) for k in ('torchvision', 'adet._C', 'skimage')
    }
    with tool.reference_imports(str(tmp_path), str(tmp_path), None):
        from torchvision.ops import boxes as box_ops  # what detectron2 does

        assert (
            box_ops.batched_nms
            is sys.modules['torchvision'].ops.boxes.batched_nms
        )
        from skimage import color  # what AdelaiDet's condinst.py does

        with pytest.raises(AttributeError, match='stand-in'):
            _ = color.rgb2lab
        with pytest.raises(NotImplementedError, match='stand-in'):
            sys.modules['torchvision'].ops.RoIPool(7, 0.25)
    assert {k: sys.modules.get(k) for k in before} == before
    with pytest.raises(SystemExit, match='--adelaidet'):
        with tool.reference_imports(
            str(tmp_path / 'none'), str(tmp_path), None
        ):
            pass


@pytest.mark.skipif(
    not SRC,
    reason='MMBLEND_ADELAIDET_SRC (AdelaiDet/, detectron2/, deps/ '
    'sources; docs/adelaidet.md) not set',
)
def test_network_matches_adelaidet(tmp_path, monkeypatch):
    """The 550 model on one photo: every matched pair has AdelaiDet's box
    and score, and masks of boxes inside the image are AdelaiDet's (holds
    before and after the border fix)."""
    monkeypatch.setattr(sys, 'path', list(sys.path))
    args = tool.parse_args(
        [
            '--adelaidet',
            osp.join(SRC, 'AdelaiDet'),
            '--detectron2',
            osp.join(SRC, 'detectron2'),
            '--deps',
            osp.join(SRC, 'deps'),
        ]
    )
    photo = osp.join(tool.PHOTO_DIR, tool.PHOTOS[2])
    (stats,) = tool.compare_model(args, '550_R_50_3x', [photo], str(tmp_path))
    assert stats['pairs'] >= 0.9 * stats['n_a'] > 0
    assert stats['box_diff'] <= 1e-3 and stats['score_diff'] <= 1e-5
    assert stats['inside'] and min(stats['inside']) >= 0.98
