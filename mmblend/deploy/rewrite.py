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
import functools
from typing import Iterator, List, Tuple

import torch
import torch.nn as nn
from mmcv.ops import RoIAlign
from mmdet.models.dense_heads import YOLOXHead
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.structures.bbox import get_box_tensor, get_box_wh
from mmengine.structures import InstanceData
from torch import Tensor

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
            raise ValueError(f'RoIAlign output_size {size}: ONNX export '
                             'supports square outputs')
        if not mmcv_roi_align.aligned or mmcv_roi_align.pool_mode != 'avg':
            raise ValueError(
                'op RoIAlign with aligned=False or pool_mode=max cannot be '
                "exported: ONNX RoiAlign's half_pixel mode is aligned=True")
        self.output_size = size[0]
        self.spatial_scale = float(mmcv_roi_align.spatial_scale)
        self.sampling_ratio = int(mmcv_roi_align.sampling_ratio)

    def forward(self, feats: Tensor, rois: Tensor) -> Tensor:
        return roi_align(feats, rois[:, 1:].to(feats.dtype), rois[:, 0].long(),
                         self.output_size, self.spatial_scale,
                         self.sampling_ratio)


def traceable_filter_scores_and_topk(scores: Tensor, score_thr: float,
                                     topk: int, results=None) -> tuple:
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


def class_aware_nms(boxes: Tensor, scores: Tensor, labels: Tensor,
                    nms_cfg: dict) -> Tensor:
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


def traceable_bbox_post_process(self,
                                results: InstanceData,
                                cfg,
                                rescale: bool = False,
                                with_nms: bool = True,
                                img_meta=None,
                                cut: bool = True) -> InstanceData:
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
        keep = class_aware_nms(get_box_tensor(results.bboxes),
                               results.scores, results.labels, cfg.nms)
        results = results[keep]
        if cut and cfg.get('max_per_img', -1) > 0:
            results = results[:cfg.max_per_img]
    return results


#: (owner, attribute, traceable replacement) swapped in by export_rewrites
METHOD_REWRITES: Tuple[Tuple[object, str, object], ...] = (
    (selection, 'filter_scores_and_topk', traceable_filter_scores_and_topk),
    (BaseDenseHead, '_bbox_post_process', traceable_bbox_post_process),
    (YOLOXHead, '_bbox_post_process',
     functools.partialmethod(traceable_bbox_post_process, cut=False)),
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
        for name, module in list(model.named_modules()):
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
