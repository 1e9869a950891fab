"""Compare two detectors' outputs on one image, robust to float error.

Two implementations of the same model (PyTorch and an exported graph, or
the same code on two CPUs) compute scores that differ in the last bits.
Where candidates tie within that error they may be ranked, suppressed or
cut differently, so detection lists are compared by **matching**, never
position by position:

1. each reference detection (best scores first) is paired with the other
   side's detection of the same label, box IoU >= ``iou_thr`` and the
   closest score (then the highest IoU); paired detections must agree (box,
   score, mask tolerances);
2. an unpaired detection is *tolerated* when

   * another unpaired detection on the other side has the same label and a
     score within ``score_atol`` (a tie resolved the other way: NMS kept the
     other of two near-equal candidates, or the top-k order swapped them), or
   * another unpaired detection on the other side has the same box (IoU >=
     ``iou_thr``), a score within ``score_atol`` and another label (a *label
     tie*: two classes of one candidate scored alike and the single-label
     hosts, e.g. YOLOX, took the other one). At most ``max_label_ties`` of
     these are tolerated, so that a wrong class mapping, which moves every
     label, is still a problem, or
   * its score lies in one of ``score_intervals`` (a cut: the score
     threshold, or the lowest score kept by ``max_per_img``; see
     :func:`cut_intervals`);

3. anything else is a problem, described with the detection's label, score
   and box.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.structures.bbox import bbox_overlaps
from torch import Tensor

__all__ = ['DetectionMatch', 'match_detections', 'cut_intervals']

Interval = Tuple[float, float]


@dataclass
class DetectionMatch:
    """The result of :func:`match_detections`.

    Attributes:
        pairs: ``(ref index, out index)`` of the paired detections.
        swaps: ``(ref index, out index)`` of tolerated near-tie swaps.
        label_ties: ``(ref index, out index)`` of tolerated label ties (same
            box and score, another label).
        cut: ``('ref'|'out', index)`` of detections tolerated at a cut.
        worst: the largest ``box_rel`` (box difference relative to the
            box's largest coordinate, at least 1), ``score`` and ``mask``
            difference of the pairs (``mask``: 1 - IoU for boolean masks,
            the largest absolute difference for probabilities).
        problems: one line per disagreement; empty when they agree.
    """

    pairs: List[Tuple[int, int]] = field(default_factory=list)
    swaps: List[Tuple[int, int]] = field(default_factory=list)
    label_ties: List[Tuple[int, int]] = field(default_factory=list)
    cut: List[Tuple[str, int]] = field(default_factory=list)
    worst: Dict[str, float] = field(
        default_factory=lambda: dict(box_rel=0.0, score=0.0, mask=0.0)
    )
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (
            f'{len(self.pairs)} paired, {len(self.swaps)} tie swaps, '
            f'{len(self.label_ties)} label ties, {len(self.cut)} at a '
            f'cut; worst box {self.worst["box_rel"]:.2e}'
            f' (relative), score {self.worst["score"]:.2e}, mask '
            f'{self.worst["mask"]:.2e}'
        )


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))


def _fields(dets: Any) -> Dict[str, Optional[Tensor]]:
    get = (
        dets.get
        if hasattr(dets, 'get')
        else (lambda k, d=None: getattr(dets, k, d))
    )
    masks = get('masks', None)
    return dict(
        bboxes=_tensor(get('bboxes')).float().reshape(-1, 4),
        scores=_tensor(get('scores')).float().reshape(-1),
        labels=_tensor(get('labels')).long().reshape(-1),
        masks=None if masks is None else _tensor(masks),
    )


def _mask_difference(a: Tensor, b: Tensor) -> float:
    """1 - IoU of two boolean masks (0 when both are empty), else the
    largest absolute difference of two probability maps."""
    if a.dtype == torch.bool:
        union = (a | b).sum().item()
        return 0.0 if union == 0 else 1 - (a & b).sum().item() / union
    return (a.float() - b.float()).abs().max().item() if a.numel() else 0.0


def _describe(side: str, i: int, d: Dict[str, Tensor]) -> str:
    box = ', '.join(f'{v:.1f}' for v in d['bboxes'][i].tolist())
    return (
        f'{side} detection {i} (label {d["labels"][i].item()}, score '
        f'{d["scores"][i].item():.6f}, box [{box}])'
    )


def match_detections(
    ref: Any,
    out: Any,
    score_atol: float = 1e-4,
    box_rtol: float = 1e-3,
    mask_tol: float = 0.01,
    iou_thr: float = 0.9,
    score_intervals: Sequence[Interval] = (),
    max_label_ties: int = 1,
    names: Tuple[str, str] = ('reference', 'other'),
) -> DetectionMatch:
    """Match ``out``'s detections to ``ref``'s (see the module doc).

    Args:
        ref, out: detections with ``bboxes [N, 4]``, ``scores [N]``,
            ``labels [N]`` and optionally ``masks`` (``[N, H, W]`` bool, or
            ``[N, R, R]`` probabilities): ``InstanceData``, dicts, tensors
            or numpy arrays.
        score_atol: the largest score difference of a pair, and how close
            two scores must be to count as a tie.
        box_rtol: the largest box difference of a pair, relative to the
            reference box's largest coordinate magnitude (at least 1: a
            coordinate near 0 is the difference of larger numbers, e.g.
            centre minus half the size, and carries their error).
        mask_tol: the largest mask difference of a pair (1 - IoU for
            boolean masks, absolute for probabilities).
        iou_thr: the smallest box IoU of a pair.
        score_intervals: ``(lo, hi)`` score ranges where a detection may be
            missing on one side (cuts), e.g. from :func:`cut_intervals`.
        max_label_ties: how many label ties are tolerated.
        names: what to call ``ref`` and ``out`` in problems.
    """
    r, o = _fields(ref), _fields(out)
    result = DetectionMatch()
    box_iou = bbox_overlaps(r['bboxes'], o['bboxes'])
    iou = box_iou.masked_fill(r['labels'][:, None] != o['labels'][None, :], 0)
    used = set()
    for i in torch.argsort(r['scores'], descending=True).tolist():
        # of the boxes that overlap enough, the closest score (two boxes
        # that clipping made alike keep their own scores), then IoU
        eligible = [
            j
            for j in range(len(o['scores']))
            if j not in used and iou[i, j] >= iou_thr
        ]
        if not eligible:
            continue
        j = min(
            eligible,
            key=lambda j: (
                abs(o['scores'][j] - r['scores'][i]).item(),
                -iou[i, j].item(),
            ),
        )
        used.add(j)
        result.pairs.append((i, j))
        a, b = r['bboxes'][i], o['bboxes'][j]
        diffs = dict(
            box_rel=((a - b).abs().max() / a.abs().max().clamp(min=1)).item(),
            score=abs(r['scores'][i] - o['scores'][j]).item(),
            mask=0.0
            if r['masks'] is None or o['masks'] is None
            else _mask_difference(r['masks'][i], o['masks'][j]),
        )
        limits = dict(box_rel=box_rtol, score=score_atol, mask=mask_tol)
        for k, v in diffs.items():
            result.worst[k] = max(result.worst[k], v)
            if v > limits[k]:
                result.problems.append(
                    f'{_describe(names[0], i, r)} and '
                    f'{_describe(names[1], j, o)} differ: {k} {v:.3g} > '
                    f'{limits[k]:.3g}'
                )
    paired_ref = {i for i, _ in result.pairs}
    lone_ref = [i for i in range(len(r['scores'])) if i not in paired_ref]
    lone_out = [j for j in range(len(o['scores'])) if j not in used]

    def pair_off(close) -> List[Tuple[int, int]]:
        """Pair each lone reference detection with the first lone other
        one for which ``close(i, j)``; both stop being lone."""
        found = []
        for i in list(lone_ref):
            j = next((j for j in lone_out if close(i, j)), None)
            if j is not None:
                found.append((i, j))
                lone_ref.remove(i)
                lone_out.remove(j)
        return found

    def tied(i: int, j: int) -> bool:
        return abs(o['scores'][j] - r['scores'][i]).item() <= score_atol

    result.swaps = pair_off(
        lambda i, j: o['labels'][j] == r['labels'][i] and tied(i, j)
    )
    result.label_ties = pair_off(
        lambda i, j: box_iou[i, j] >= iou_thr and tied(i, j)
    )
    if len(result.label_ties) > max_label_ties:
        result.problems.append(
            f'{len(result.label_ties)} detections have the same box and '
            f'score but another label (at most {max_label_ties} label ties '
            'are tolerated; is the class mapping wrong?): '
            + '; '.join(
                f'{_describe(names[0], i, r)} vs {_describe(names[1], j, o)}'
                for i, j in result.label_ties[:3]
            )
        )

    def at_cut(score: float) -> bool:
        return any(
            lo - score_atol <= score <= hi + score_atol
            for lo, hi in score_intervals
        )

    for side, lone, d in (('ref', lone_ref, r), ('out', lone_out, o)):
        name = names[0] if side == 'ref' else names[1]
        for i in lone:
            if at_cut(d['scores'][i].item()):
                result.cut.append((side, i))
            else:
                result.problems.append(
                    f'{_describe(name, i, d)} has no counterpart and is not '
                    'at a score cut or a near-tie'
                )
    return result


def cut_intervals(
    ref: Any, out: Any, max_per_img: int, threshold: Optional[Interval] = None
) -> List[Interval]:
    """Score ranges where a detection may be missing on one side: the
    lowest score of a list cut at ``max_per_img`` (on either side), and the
    ``threshold`` range (the scores a candidate at the score threshold can
    be reported with: ``(thr, thr)`` when the reported score is the
    thresholded one; see the hosts' ``score_cut``)."""
    intervals = [] if threshold is None else [tuple(threshold)]
    for dets in (ref, out):
        scores = _fields(dets)['scores']
        if max_per_img > 0 and len(scores) >= max_per_img:
            low = scores.min().item()
            intervals.append((low, low))
    return intervals
