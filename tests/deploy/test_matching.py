"""Detection matching (mmblend.deploy.matching) on hand-made lists."""

import pytest
import torch

from mmblend.deploy.matching import cut_intervals, match_detections


def dets(boxes, scores, labels, masks=None):
    d = dict(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor(scores),
        labels=torch.tensor(labels),
    )
    if masks is not None:
        d['masks'] = torch.tensor(masks)
    return d


REF = dets(
    [[0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 30]],
    [0.9, 0.5, 0.3],
    [1, 2, 1],
)


def test_same_detections_in_another_order_pair_up():
    out = dets(
        [[50, 0, 60, 30], [0, 0, 10, 10.001], [20, 20, 40, 40]],
        [0.30001, 0.9, 0.5],
        [1, 1, 2],
    )
    m = match_detections(REF, out)
    assert m.ok and sorted(m.pairs) == [(0, 1), (1, 2), (2, 0)]
    assert m.worst['score'] == pytest.approx(1e-5, abs=1e-7)
    assert m.worst['box_rel'] == pytest.approx(1e-4, rel=1e-2)


def test_near_tie_resolved_the_other_way_is_a_swap():
    # NMS kept the other of two candidates with equal scores
    out = dets(
        [[0, 0, 10, 10], [22, 30, 42, 50], [50, 0, 60, 30]],
        [0.9, 0.5, 0.3],
        [1, 2, 1],
    )
    m = match_detections(REF, out)
    assert m.ok and m.swaps == [(1, 1)] and len(m.pairs) == 2


def test_missing_detection_at_the_top_k_cut_is_tolerated():
    out = dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.5], [1, 2])
    m = match_detections(REF, out)
    assert (
        not m.ok
        and 'reference detection 2 (label 1, score 0.300000' in m.problems[0]
        and 'no counterpart' in m.problems[0]
    )
    m = match_detections(REF, out, score_intervals=cut_intervals(REF, out, 3))
    assert m.ok and m.cut == [('ref', 2)]
    # a cut at the score threshold (sqrt scale: thr 0.09)
    m = match_detections(REF, out, score_intervals=[(0.3, 0.3)])
    assert m.ok and m.cut == [('ref', 2)]


def test_real_mismatches_are_named():
    # another label, a moved box and a score that differs
    out = dets(
        [[0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 30]],
        [0.9, 0.45, 0.3],
        [3, 2, 1],
    )
    m = match_detections(
        REF, out, names=('PyTorch', 'onnxruntime'), max_label_ties=0
    )
    assert not m.ok
    text = '\n'.join(m.problems)
    assert 'score 0.05 > 0.0001' in text
    assert 'PyTorch detection 0 (label 1, score 0.900000' in text
    assert 'onnxruntime detection 0 (label 3' in text
    assert 'same box and score but another label' in text


def test_one_label_tie_is_tolerated_a_wrong_class_mapping_is_not():
    # one candidate whose two best classes scored alike: the other side
    # reports the same box and score under the other label
    out = dets(REF['bboxes'].tolist(), [0.9, 0.5, 0.3], [1, 7, 1])
    m = match_detections(REF, out)
    assert m.ok and m.label_ties == [(1, 1)] and len(m.pairs) == 2
    assert not match_detections(REF, out, max_label_ties=0).ok
    # every label moved by one: same boxes and scores, still a problem
    shifted = dets(REF['bboxes'].tolist(), [0.9, 0.5, 0.3], [2, 3, 2])
    m = match_detections(REF, shifted)
    assert not m.ok and len(m.label_ties) == 3
    assert 'is the class mapping wrong?' in m.problems[0]


def test_masks_are_compared_by_iou_or_probability():
    a = torch.zeros(3, 4, 4, dtype=torch.bool)
    a[:, :2] = True
    b = a.clone()
    b[0, 2] = True  # IoU 8 / 12
    m = match_detections(
        dets(REF['bboxes'].tolist(), [0.9, 0.5, 0.3], [1, 2, 1], a.tolist()),
        dets(REF['bboxes'].tolist(), [0.9, 0.5, 0.3], [1, 2, 1], b.tolist()),
    )
    assert not m.ok and m.worst['mask'] == pytest.approx(1 / 3)
    p = torch.rand(3, 4, 4)
    m = match_detections(
        dict(REF, masks=p), dict(REF, masks=p + 1e-4), mask_tol=1e-3
    )
    assert m.ok and m.worst['mask'] == pytest.approx(1e-4, rel=1e-2)
