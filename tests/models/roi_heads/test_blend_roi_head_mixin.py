"""BlendRoIHeadMixin on mmdet's fake RoI head (tests/models/roi_heads/
test_mmdet_roi_head_tests.py): the neck levels' strides (extra levels
halving), the padded input size, the bases computed once per batch and only
when there is something to blend (the refusals when built:
tests/models/roi_heads/test_blend_roi_head.py)."""

import torch
from mmdet.registry import MODELS
from mmengine.structures import InstanceData
from test_mmdet_roi_head_tests import _fake_roi_head

from mmblend.models.roi_heads.blend_roi_head_mixin import FeaturesWithBases


def roi_head_counting_bases():
    roi_head = MODELS.build(_fake_roi_head())
    calls = []
    forward_bases = roi_head.basis_head.forward_bases

    def counted(x, strides):
        calls.append(list(strides))
        return forward_bases(x, strides)

    roi_head.basis_head.forward_bases = counted
    return roi_head, calls


def test_strides_and_input_size():
    roi_head = MODELS.build(_fake_roi_head())
    assert roi_head.neck_strides(4) == [4, 8, 16, 32]
    assert roi_head.neck_strides(6) == [4, 8, 16, 32, 64, 128]
    assert roi_head.neck_strides(2) == [4, 8]
    x = [torch.zeros(1, 1, 16, 12)]
    assert roi_head.input_shape(x) == (64, 48)


def test_bases_once_per_batch():
    roi_head, calls = roi_head_counting_bases()
    x = tuple(torch.randn(1, 1, 64 // s, 48 // s) for s in (4, 8, 16, 32))
    feats = roi_head.with_bases(x)
    assert isinstance(feats, FeaturesWithBases) and feats == x
    assert feats.bases.shape[:2] == (1, roi_head.basis_head.basis.num_bases)
    assert roi_head.with_bases(feats) is feats
    assert calls == [[4, 8, 16, 32]]


def test_no_bases_without_detections():
    roi_head, calls = roi_head_counting_bases()
    roi_head.eval()
    x = tuple(torch.randn(1, 1, 64 // s, 48 // s) for s in (4, 8, 16, 32))
    empty = InstanceData(
        bboxes=torch.zeros(0, 4),
        scores=torch.zeros(0),
        labels=torch.zeros(0, dtype=torch.long),
    )
    meta = dict(
        img_shape=(64, 48), ori_shape=(64, 48), scale_factor=(1.0, 1.0)
    )
    with torch.no_grad():
        out = roi_head.predict_mask(x, [meta], [empty])
    assert calls == [] and out[0].masks.shape[0] == 0
