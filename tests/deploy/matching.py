"""Matching two detectors' outputs on one image for parity checks."""
import torch
from mmdet.structures.bbox import bbox_overlaps


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of two ``[H, W]`` bool masks (1 when both are empty)."""
    union = (a | b).sum().item()
    return 1.0 if union == 0 else (a & b).sum().item() / union


def assert_same_detections(ref, out, score_boundaries, box_rtol=1e-3,
                           score_atol=1e-4, min_mask_iou=0.99) -> int:
    """``ref``/``out``: ``pred_instances`` (bboxes, scores, labels, masks).

    Each detection is matched to the other side's detection of the same
    label with the highest box IoU (>= 0.9). Unmatched detections are
    allowed only within ``score_atol`` of a boundary score in
    ``score_boundaries`` (the threshold, or the lowest kept score when
    ``max_per_img`` cut the list: swaps at the top-k boundary). Matched
    ones must agree: boxes within ``box_rtol`` relative (of max(|x|, 1)),
    scores within ``score_atol``, mask IoU >= ``min_mask_iou``. Returns
    ``matched`` (how many) and the worst ``box_rel``, ``score``
    difference and ``mask_iou``.
    """
    iou = bbox_overlaps(ref.bboxes, out.bboxes)
    iou[ref.labels[:, None] != out.labels[None, :]] = 0
    used, matched = set(), 0
    worst = dict(box_rel=0.0, score=0.0, mask_iou=1.0)

    def near_boundary(score):
        return any(abs(score - b) <= score_atol for b in score_boundaries)

    for i in torch.argsort(ref.scores, descending=True).tolist():
        cand = [j for j in torch.argsort(iou[i], descending=True).tolist()
                if j not in used and iou[i, j] >= 0.9]
        if not cand:
            assert near_boundary(ref.scores[i].item()), (
                f'PyTorch detection {i} (label {ref.labels[i].item()}, score '
                f'{ref.scores[i].item():.6f}, box {ref.bboxes[i].tolist()}) '
                'has no ONNX counterpart and is not at a boundary')
            continue
        j = cand[0]
        used.add(j)
        matched += 1
        a, b = ref.bboxes[i], out.bboxes[j]
        rel = ((a - b).abs() / a.abs().clamp(min=1)).max().item()
        score = abs(ref.scores[i] - out.scores[j]).item()
        m_iou = mask_iou(ref.masks[i], out.masks[j])
        assert rel <= box_rtol, (i, a.tolist(), b.tolist())
        assert score <= score_atol, (i, score)
        assert m_iou >= min_mask_iou, (i, m_iou)
        worst = dict(box_rel=max(worst['box_rel'], rel),
                     score=max(worst['score'], score),
                     mask_iou=min(worst['mask_iou'], m_iou))
    for j in set(range(len(out.scores))) - used:
        assert near_boundary(out.scores[j].item()), (
            f'ONNX detection {j} (score {out.scores[j].item():.6f}) has no '
            'PyTorch counterpart and is not at a boundary')
    return dict(worst, matched=matched)


def boundaries(ref, out, score_thr: float, max_per_img: int) -> list:
    """Scores at which a detection may be cut differently: the threshold
    (sqrt scale, BlendMaskHead's convention) and the lowest kept score of a
    list cut at ``max_per_img``."""
    scores = [score_thr**0.5]
    for r in (ref, out):
        if len(r.scores) >= max_per_img:
            scores.append(r.scores.min().item())
    return scores
