"""The two export ops in eager mode, against hand computations and mmcv:
NMS keeps by descending score and suppresses only above the threshold with
areas without the +1 offset; RoIAlign is mmcv's aligned=True (half-pixel
corners), zero-size boxes give 0 (both as ONNX graphs run by onnxruntime:
tests/deploy/test_export_ops.py)."""

import torch
from mmcv.ops import RoIAlign

from mmblend.deploy.ops import nms_keep, roi_align


def test_nms_keep_by_hand():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # score 0.5
            [0.0, 0.0, 10.0, 5.0],  # IoU 0.5 with box 0
            [1.0, 0.0, 11.0, 10.0],  # IoU 0.82 with box 0
            [50.0, 50.0, 60.0, 60.0],
        ]
    )
    scores = torch.tensor([0.5, 0.9, 0.4, 0.7])
    # with mmcv's +1 offset box 1 and box 0 would overlap 66/121 > 0.5
    assert nms_keep(boxes, scores, 0.5).tolist() == [1, 3, 0]
    assert nms_keep(boxes, scores, 0.49).tolist() == [1, 3, 2]
    assert nms_keep(boxes[:0], scores[:0], 0.5).tolist() == []


def test_roi_align_half_pixel_by_hand():
    # f(y, x) = x on a 16 x 16 map: a bin's mean is its centre's x in the
    # map's pixel coordinates (corners at x * scale - 0.5)
    feats = torch.arange(16.0).repeat(16, 1)[None, None]
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [8.0, 4.0, 16.0, 12.0]])
    out = roi_align(feats, boxes, torch.tensor([0, 0]), 2, 1.0, 2)
    assert out.shape == (2, 1, 2, 2)
    torch.testing.assert_close(out[0, 0], torch.tensor([[1.5, 5.5]] * 2))
    torch.testing.assert_close(out[1, 0], torch.tensor([[9.5, 13.5]] * 2))
    # at half the resolution (spatial_scale 0.5) the same boxes read the
    # same region of an 8 x 8 map of f = x
    half = torch.arange(8.0).repeat(8, 1)[None, None]
    out = roi_align(half, boxes[:1], torch.tensor([0]), 2, 0.5, 2)
    torch.testing.assert_close(out[0, 0], torch.tensor([[0.5, 2.5]] * 2))


def test_roi_align_is_mmcvs_aligned_and_zero_for_empty_boxes():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 3, 20, 24, generator=g)
    xy = torch.rand(6, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + torch.rand(6, 2, generator=g) * 40], 1)
    boxes[5, 2] = boxes[5, 0]  # zero width
    inds = torch.tensor([0, 1, 0, 1, 1, 0])
    rois = torch.cat([inds[:, None].float(), boxes], 1)
    for ratio in (0, 2):
        ref = RoIAlign(7, 0.25, ratio, aligned=True)(feats, rois)
        out = roi_align(feats, boxes, inds, 7, 0.25, ratio)
        torch.testing.assert_close(out, ref)
    assert torch.all(roi_align(feats, boxes, inds, 7, 0.25, 0)[5] == 0)
