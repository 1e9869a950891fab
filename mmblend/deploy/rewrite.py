"""What tracing cannot take from mmdet/mmcv, replaced during export only.

The exported graph is the model's own inference code, traced
(:func:`~mmblend.deploy.export.export_onnx`). A few functions on that path
cannot be traced as they are; :func:`export_rewrites` replaces exactly
those, for the duration of the export (the way mmdeploy's function
rewriters work), and restores them afterwards:

* mmcv's ``RoIAlign`` modules (the blender's pooler): mmcv's ONNX symbolic
  is invalid at opset >= 13; swapped for :class:`ExportRoIAlign` (mmcv's
  kernel in eager mode, ONNX ``RoiAlign`` in the graph);
* mmdet's ``filter_scores_and_topk`` as the hosts' recorded selection calls
  it (:mod:`mmblend.models.dense_heads.selection`): it computes the top-k
  count with Python's ``min`` of a traced size, which tracing would freeze
  at the tracing image's number of candidates; replaced by
  :func:`traceable_filter_scores_and_topk`, which slices at ``topk`` (the
  same rows: a slice stops at the end);
* the dense hosts' ``_bbox_post_process`` (mmdet's ``BaseDenseHead`` and
  ``YOLOXHead``): their NMS is mmcv's ``batched_nms``, whose kernel has no
  ONNX symbolic (it would be traced as a constant), and they branch in
  Python on the data (``if not valid_mask.all()``, ``if
  results.bboxes.numel() > 0``), which tracing would freeze: replaced by
  :func:`traceable_bbox_post_process`, the same steps without branches on
  the data, with :func:`class_aware_nms` (mmcv's ``batched_nms`` with its
  class offsets, as an ONNX ``NonMaxSuppression``).

Everything else on the path (the hosts' ``predict_by_feat``, their
candidate selection, box decoding, the mixing mechanism's attention lookup,
the blender) is the model's code, traced with ``torch.jit.trace`` (so that
mmdet's half-finished ``torch.onnx.is_in_onnx_export()`` branches, which
import the removed ``mmdet.core.export``, are not taken). A host whose path
reaches another untraceable function is refused by :func:`check_exportable`
with the function's name.
"""

import contextlib
import copy
import functools
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.ops import RoIAlign
from mmdet.models.dense_heads import RPNHead, YOLOXHead
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.layers import bbox_nms
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.structures.bbox import cat_boxes, get_box_tensor, get_box_wh
from mmengine.structures import InstanceData
from torch import Tensor
from torch.nn.modules.utils import _pair

from ..models.dense_heads import selection
from .ops import nms_keep, roi_align


class ExportRoIAlign(nn.Module):
    """mmcv's ``RoIAlign`` (``aligned=True``, fixed sampling ratio) that
    exports as an ONNX ``RoiAlign`` (opset 16, ``half_pixel``): same
    ``forward(feats [B, C, H, W], rois [n, 5]) -> [n, C, h, w]``."""

    def __init__(self, mmcv_roi_align: RoIAlign) -> None:
        super().__init__()
        size = tuple(mmcv_roi_align.output_size)
        if len(set(size)) != 1:
            raise ValueError(
                f'RoIAlign output_size {size}: ONNX export '
                'supports square outputs'
            )
        if not mmcv_roi_align.aligned or mmcv_roi_align.pool_mode != 'avg':
            raise ValueError(
                'op RoIAlign with aligned=False or pool_mode=max cannot be '
                "exported: ONNX RoiAlign's half_pixel mode is aligned=True"
            )
        self.output_size = size[0]
        self.spatial_scale = float(mmcv_roi_align.spatial_scale)
        self.sampling_ratio = int(mmcv_roi_align.sampling_ratio)

    def forward(self, feats: Tensor, rois: Tensor) -> Tensor:
        return roi_align(
            feats,
            rois[:, 1:].to(feats.dtype),
            rois[:, 0].long(),
            self.output_size,
            self.spatial_scale,
            self.sampling_ratio,
        )


def traceable_filter_scores_and_topk(
    scores: Tensor, score_thr: float, topk: int, results=None
) -> tuple:
    """mmdet's ``filter_scores_and_topk`` with ``scores[:topk]`` for
    ``scores[:min(topk, num_valid)]`` (equal, also for ``topk=-1``)."""
    valid_mask = scores > score_thr
    scores = scores[valid_mask]
    valid_idxs = torch.nonzero(valid_mask)
    scores, idxs = scores.sort(descending=True)
    scores = scores[:topk]
    keep_idxs, labels = valid_idxs[idxs[:topk]].unbind(dim=1)
    filtered = None
    if results is not None:
        filtered = {k: v[keep_idxs] for k, v in results.items()}
    return scores, labels, keep_idxs, filtered


def class_aware_nms(
    boxes: Tensor, scores: Tensor, labels: Tensor, nms_cfg: dict
) -> Tensor:
    """mmcv's ``batched_nms`` below its ``split_thr``: boxes offset by
    ``label * (max coordinate + 1)`` (unless ``class_agnostic``), one NMS;
    returns the kept indices ``[S]`` by descending score. ``nms_cfg``: mmcv's
    (``type='nms'``, ``iou_threshold``, ``class_agnostic``)."""
    if nms_cfg.get('class_agnostic', False):
        shifted = boxes
    else:
        # the appended 0 keeps max() defined without a candidate
        top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
        shifted = boxes + (labels.to(boxes.dtype) * (top + 1))[:, None]
    return nms_keep(shifted, scores, nms_cfg['iou_threshold'])


def traceable_bbox_post_process(
    self,
    results: InstanceData,
    cfg,
    rescale: bool = False,
    with_nms: bool = True,
    img_meta=None,
    cut: bool = True,
) -> InstanceData:
    """``BaseDenseHead._bbox_post_process`` (``cut``: its final
    ``max_per_img``) and ``YOLOXHead._bbox_post_process`` (``cut=False``)
    without Python branches on the data: score factors multiplied in,
    boxes not larger than ``min_bbox_size`` dropped, class-aware NMS,
    ``max_per_img``. The export never rescales (the graph works at the
    input scale)."""
    if rescale:
        raise ValueError('the exported graph works at the input scale')
    if 'score_factors' in results:
        results.scores = results.scores * results.pop('score_factors')
    min_size = cfg.get('min_bbox_size', -1)
    if min_size >= 0:
        w, h = get_box_wh(results.bboxes)
        results = results[(w > min_size) & (h > min_size)]
    if with_nms:
        keep = class_aware_nms(
            get_box_tensor(results.bboxes),
            results.scores,
            results.labels,
            cfg.nms,
        )
        results = results[keep]
        if cut and cfg.get('max_per_img', -1) > 0:
            results = results[: cfg.max_per_img]
    return results


def traceable_rpn_predict_by_feat_single(
    self,
    cls_score_list: List[Tensor],
    bbox_pred_list: List[Tensor],
    score_factor_list: List[Tensor],
    mlvl_priors: List[Tensor],
    img_meta: dict,
    cfg,
    rescale: bool = False,
    with_nms: bool = True,
) -> InstanceData:
    """``RPNHead._predict_by_feat_single`` with every level's ``nms_pre``
    cut taken as a slice of its sorted scores. mmdet cuts a level only ``if
    0 < nms_pre < scores.shape[0]``, a branch on the level's size that
    tracing would freeze at the tracing image's levels (a level smaller than
    ``nms_pre`` there would never be cut on a larger image). Sorting and
    slicing a level with fewer candidates keeps all of them, in score order
    (the NMS that follows sorts by score anyway)."""
    cfg = copy.deepcopy(self.test_cfg if cfg is None else cfg)
    nms_pre = cfg.get('nms_pre', -1)
    mlvl_bbox_preds, mlvl_valid_priors, mlvl_scores, level_ids = [], [], [], []
    for level_idx, (cls_score, bbox_pred, priors) in enumerate(
        zip(cls_score_list, bbox_pred_list, mlvl_priors)
    ):
        bbox_pred = bbox_pred.permute(1, 2, 0).reshape(
            -1, self.bbox_coder.encode_size
        )
        cls_score = cls_score.permute(1, 2, 0).reshape(
            -1, self.cls_out_channels
        )
        # mmdet's squeeze of [n, 1] sigmoid / [n, 2][:, :-1] softmax scores
        scores = (
            cls_score.sigmoid()
            if self.use_sigmoid_cls
            else cls_score.softmax(-1)
        )[:, 0]
        if nms_pre > 0:
            scores, rank_inds = scores.sort(descending=True)
            topk_inds = rank_inds[:nms_pre]
            scores = scores[:nms_pre]
            bbox_pred = bbox_pred[topk_inds, :]
            priors = priors[topk_inds]
        mlvl_bbox_preds.append(bbox_pred)
        mlvl_valid_priors.append(priors)
        mlvl_scores.append(scores)
        level_ids.append(torch.full_like(scores, level_idx, dtype=torch.long))
    results = InstanceData()
    results.bboxes = self.bbox_coder.decode(
        cat_boxes(mlvl_valid_priors),
        torch.cat(mlvl_bbox_preds),
        max_shape=img_meta['img_shape'],
    )
    results.scores = torch.cat(mlvl_scores)
    results.level_ids = torch.cat(level_ids)
    return self._bbox_post_process(
        results=results, cfg=cfg, rescale=rescale, img_meta=img_meta
    )


def traceable_rpn_bbox_post_process(
    self,
    results: InstanceData,
    cfg,
    rescale: bool = False,
    with_nms: bool = True,
    img_meta=None,
) -> InstanceData:
    """``RPNHead._bbox_post_process``: the dense hosts' steps
    (:func:`traceable_bbox_post_process`: ``min_bbox_size``, NMS,
    ``max_per_img``) with the level as the NMS class (mmdet's
    ``batched_nms`` on ``level_ids``) and label 0. mmdet's branches on the
    data (``if not valid_mask.all()``, ``if results.bboxes.numel() > 0``)
    would be frozen by tracing."""
    results.labels = results.pop('level_ids')
    results = traceable_bbox_post_process(
        self, results, cfg, rescale, with_nms, img_meta
    )
    results.labels = torch.zeros_like(results.labels)
    return results


def traceable_batched_nms(
    boxes: Tensor,
    scores: Tensor,
    idxs: Tensor,
    nms_cfg: dict,
    class_agnostic: bool = False,
) -> Tuple[Tensor, Tensor]:
    """mmcv's ``batched_nms`` as mmdet's ``multiclass_nms`` (the RoI bbox
    heads' NMS) calls it: ``(dets [S, 5], keep [S])`` from
    :func:`class_aware_nms`. mmcv's kernel has no ONNX symbolic, and above
    ``nms_cfg.split_thr`` candidates (10000) mmcv loops over the classes,
    one NMS of the same offset boxes per class, which keeps the same boxes
    as the one NMS here."""
    nms_cfg = dict(nms_cfg)
    nms_cfg.setdefault('class_agnostic', class_agnostic)
    keep = class_aware_nms(boxes, scores, idxs, nms_cfg)
    return torch.cat([boxes[keep], scores[keep, None]], -1), keep


def traceable_roi_extractor_forward(
    self,
    feats: Sequence[Tensor],
    rois: Tensor,
    roi_scale_factor: Optional[float] = None,
) -> Tensor:
    """``SingleRoIExtractor.forward`` (the FPN level of each RoI by its
    scale, RoIAlign on that level) with the level assignment in the graph:
    every level's RoIAlign runs on the RoIs mapped to it (``nonzero``,
    possibly none) and its features are written to their rows. mmdet skips a
    level without RoIs (``if inds.numel() > 0``), a branch on the data that
    tracing would freeze: a level empty on the tracing image would be left
    out of the graph. ONNX ``RoiAlign`` reads one feature map, so each level
    is its own ``RoiAlign``. ``rois [n, 5]`` -> ``[n, C, S, S]``."""
    rois = rois.type_as(feats[0])
    out_size = _pair(self.roi_layers[0].output_size)  # an int once swapped
    num_levels = len(feats)
    if num_levels == 1:
        return self.roi_layers[0](feats[0], rois)
    roi_feats = feats[0].new_zeros(rois.size(0), self.out_channels, *out_size)
    target_lvls = self.map_roi_levels(rois, num_levels)
    if roi_scale_factor is not None:
        rois = self.roi_rescale(rois, roi_scale_factor)
    for i in range(num_levels):
        inds = (target_lvls == i).nonzero(as_tuple=False).squeeze(1)
        roi_feats[inds] = self.roi_layers[i](feats[i], rois[inds])
    return roi_feats


#: (owner, attribute, traceable replacement) swapped in by export_rewrites
METHOD_REWRITES: Tuple[Tuple[object, str, object], ...] = (
    (selection, 'filter_scores_and_topk', traceable_filter_scores_and_topk),
    (BaseDenseHead, '_bbox_post_process', traceable_bbox_post_process),
    (
        YOLOXHead,
        '_bbox_post_process',
        functools.partialmethod(traceable_bbox_post_process, cut=False),
    ),
    (RPNHead, '_predict_by_feat_single', traceable_rpn_predict_by_feat_single),
    (RPNHead, '_bbox_post_process', traceable_rpn_bbox_post_process),
    (bbox_nms, 'batched_nms', traceable_batched_nms),
    (SingleRoIExtractor, 'forward', traceable_roi_extractor_forward),
)


def rewritten_methods() -> List[Tuple[object, str]]:
    """``(owner, name)`` of every function :func:`export_rewrites`
    replaces."""
    return [(owner, name) for owner, name, _ in METHOD_REWRITES]


@contextlib.contextmanager
def export_rewrites(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model`` runs its inference with the traceable
    replacements of this module: its mmcv ``RoIAlign`` modules swapped for
    :class:`ExportRoIAlign` and the methods of :data:`METHOD_REWRITES`
    replaced on their classes. Everything is restored on exit."""
    swapped = []
    saved = []
    try:
        for module in list(model.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, RoIAlign):
                    setattr(module, child_name, ExportRoIAlign(child))
                    swapped.append((module, child_name, child))
        for owner, name, replacement in METHOD_REWRITES:
            saved.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, replacement)
        yield model
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
        for module, child_name, child in reversed(swapped):
            setattr(module, child_name, child)
