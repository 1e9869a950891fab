"""export_rewrites: inside the block the model's mmcv RoIAlign modules are
export ones and the listed functions are the traceable replacements; all is
restored on exit, also after an error. The replacements compute what they
replace (their traced graphs against the eager ops:
tests/deploy/test_export_ops.py)."""

import pytest
import torch
import torch.nn as nn
from mmcv.ops import RoIAlign, batched_nms
from mmdet.models.utils import filter_scores_and_topk

from mmblend.deploy.rewrite import (
    METHOD_REWRITES,
    ExportRoIAlign,
    class_aware_nms,
    export_rewrites,
    traceable_filter_scores_and_topk,
)


def model():
    return nn.Sequential(
        nn.Conv2d(3, 3, 1), nn.ModuleList([RoIAlign(7, 0.25, 2, aligned=True)])
    )


def current():
    return [owner.__dict__[name] for owner, name, _ in METHOD_REWRITES]


def test_replaced_inside_and_restored_after():
    m, before = model(), current()
    original = m[1][0]
    with export_rewrites(m) as inside:
        assert inside is m and isinstance(m[1][0], ExportRoIAlign)
        assert current() == [new for _, _, new in METHOD_REWRITES]
    assert m[1][0] is original and current() == before
    with pytest.raises(KeyError):
        with export_rewrites(m):
            raise KeyError('an export error')
    assert m[1][0] is original and current() == before


def test_export_roi_align_equals_mmcvs_and_refuses_what_onnx_lacks():
    mmcv_op = RoIAlign(7, 0.25, 2, aligned=True)
    feats = torch.randn(1, 4, 16, 16)
    rois = torch.tensor(
        [[0.0, 3.0, 5.0, 40.0, 30.0], [0.0, 0.0, 0.0, 63.0, 63.0]]
    )
    torch.testing.assert_close(
        ExportRoIAlign(mmcv_op)(feats, rois), mmcv_op(feats, rois)
    )
    with pytest.raises(ValueError, match='aligned=False'):
        ExportRoIAlign(RoIAlign(7, 0.25, 2, aligned=False))
    with pytest.raises(ValueError, match='square'):
        ExportRoIAlign(RoIAlign((7, 5), 0.25, 2, aligned=True))


def test_replacements_compute_what_they_replace():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(40, 2, generator=g) * 20], 1)
    scores = torch.rand(40, generator=g)
    labels = torch.randint(0, 3, (40,), generator=g)
    for agnostic in (False, True):
        cfg = dict(type='nms', iou_threshold=0.5, class_agnostic=agnostic)
        _, keep = batched_nms(boxes, scores, labels, cfg)
        assert (
            class_aware_nms(boxes, scores, labels, cfg).tolist()
            == keep.tolist()
        )
    cls_scores = torch.rand(30, 4, generator=g)
    for topk in (5, 200, -1):
        a = traceable_filter_scores_and_topk(cls_scores, 0.3, topk)
        b = filter_scores_and_topk(cls_scores, 0.3, topk)
        assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3])), topk
