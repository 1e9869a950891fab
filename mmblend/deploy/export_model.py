"""BlendMask as one traceable module: image in, final detections out."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import DeformConv2d, ModulatedDeformConv2d
from torch import Tensor

from ..models.dense_heads.blendmask_head import BlendMaskHead
from ..models.detectors.blendmask import BlendMask
from ..models.layers.blender import Blender
from .ops import nms_keep, roi_align


def check_exportable(model: nn.Module) -> None:
    """Raise a ``ValueError`` naming the op and config key when ``model``
    cannot be exported by :class:`BlendMaskExport` (which supports BlendMask
    detectors with the :class:`BlendMaskHead` host)."""
    if type(model) is not BlendMask:
        raise ValueError(
            f'ONNX export supports the BlendMask detector (model.type='
            f"'BlendMask'), got {type(model).__name__}")
    head = model.bbox_head
    for name in ('forward', 'forward_single', 'candidate_scores',
                 '_predict_by_feat_single', '_bbox_post_process',
                 'predict_by_feat'):
        if not isinstance(head, BlendMaskHead) or getattr(
                type(head), name) is not getattr(BlendMaskHead, name):
            raise ValueError(
                'ONNX export supports BlendMaskHead configs (model.bbox_head.'
                f"type='BlendMaskHead'), got {type(head).__name__}, whose "
                'post-processing the exported graph would not reproduce')
    for name, module in model.named_modules():
        if isinstance(module, (DeformConv2d, ModulatedDeformConv2d)):
            raise ValueError(
                f'op {type(module).__name__} ({name}; model.backbone.dcn / '
                'stage_with_dcn) cannot be exported: ONNX has no deformable '
                "convolution that onnxruntime runs (mmcv's symbolic needs "
                "mmcv's custom-op library); export a config without DCN")
    blender = model.mask_head.blender
    if blender.pooler_type != 'RoIAlign':
        raise ValueError(
            f'op {blender.pooler_type} (model.mask_head.blender.pooler='
            f"'{blender.pooler_type}') cannot be exported: ONNX MaxRoiPool "
            "rounds the box corners (Caffe's RoIPool), unlike mmcv's RoIPool "
            'that the model was trained with; export a RoIAlign config')
    cfg = head.test_cfg
    nms = cfg.get('nms')
    if nms is None or nms.get('type', 'nms') != 'nms':
        raise ValueError(
            f'model.test_cfg.nms={nms!r}: ONNX export supports plain NMS '
            "(type='nms', ONNX NonMaxSuppression) only")
    if not int(cfg.get('nms_pre', -1)) > 0:
        raise ValueError(
            f'model.test_cfg.nms_pre={cfg.get("nms_pre", -1)}: ONNX export '
            'needs a positive number of candidates per level')


class BlendMaskExport(nn.Module):
    """A trained :class:`~mmblend.models.BlendMask` with its inference as a
    traceable graph: backbone, neck, FCOS head, bases, AdelaiDet's
    post-processing of :class:`BlendMaskHead` (``sigmoid(cls) *
    sigmoid(ctr) > score_thr``, top ``nms_pre`` per level, boxes clipped to
    the image, ``min_bbox_size``, class-aware NMS, ``max_per_img``, sqrt
    scores), the top layer at the detections and the blender.

    Inputs: ``image [1, 3, H, W]`` (the data preprocessor's output, padded)
    and ``img_shape [2]`` (int64 height, width of the resized image before
    padding: boxes are clipped to it, as in eager inference).

    Outputs, at the input's scale: ``boxes [D, 4]``, ``scores [D]``,
    ``labels [D]`` (int64), ``masks [D, R, R]`` (box-relative mask
    probabilities), by descending score.
    """

    def __init__(self, model: BlendMask) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        head = model.bbox_head
        cfg = head.test_cfg
        self.score_thr = float(cfg.get('score_thr', 0))
        self.nms_pre = int(cfg['nms_pre'])
        self.min_bbox_size = float(cfg.get('min_bbox_size', -1))
        self.iou_threshold = float(cfg.nms['iou_threshold'])
        self.class_agnostic = bool(cfg.nms.get('class_agnostic', False))
        self.max_per_img = int(cfg.get('max_per_img', -1))
        self.strides = [s[0] if isinstance(s, (tuple, list)) else s
                        for s in head.prior_generator.strides]
        self.offset = float(head.prior_generator.offset)

    def score_cut(self) -> Tuple[float, float]:
        """The reported scores of a candidate at the score threshold."""
        return self.model.bbox_head.score_cut(self.score_thr)

    def forward(self, image: Tensor,
                img_shape: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        model = self.model
        feats = model.extract_feat(image)
        towers, cls_scores, bbox_preds, ctrs = model.bbox_head(feats)
        bases, _ = model.mask_head(feats)
        boxes, scores, labels, patch_inds, row_len, tower_flat = \
            self.candidates(towers, cls_scores, bbox_preds, ctrs, img_shape)
        keep = self.nms(boxes, scores, labels)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        attns = self.attns(tower_flat, patch_inds[keep], row_len[keep])
        masks = blend(model.mask_head.blender, bases, attns, boxes)
        return boxes, scores, labels, masks

    def candidates(self, towers: Sequence[Tensor], cls_scores, bbox_preds,
                   ctrs, img_shape: Tensor) -> tuple:
        """Per level the top ``nms_pre`` candidates above ``score_thr``,
        decoded and clipped; returns ``boxes [N, 4]``, sqrt ``scores [N]``,
        ``labels [N]``, and for the top layer each candidate's location as
        its index ``[N]`` in the flattened padded box towers ``[C, T]``
        (also returned) and the padded row length ``[N]``."""
        C = self.model.bbox_head.cls_out_channels
        max_y = img_shape[0].to(torch.float32)
        max_x = img_shape[1].to(torch.float32)
        boxes, scores, labels, patch_inds, row_len, flats = \
            [], [], [], [], [], []
        start = torch.zeros((), dtype=torch.long)
        for tower, cls, reg, ctr, stride in zip(towers, cls_scores,
                                                bbox_preds, ctrs,
                                                self.strides):
            h, w = cls.shape[-2:]
            prob = cls[0].permute(1, 2, 0).reshape(-1, C).sigmoid() * \
                ctr[0].permute(1, 2, 0).reshape(-1, 1).sigmoid()
            flat = prob.reshape(-1)
            valid = (flat > self.score_thr).nonzero().squeeze(1)
            valid_scores = flat[valid]
            # pad to nms_pre so that top-k has a constant k
            padded = torch.cat([
                valid_scores,
                valid_scores.new_full((self.nms_pre, ), float('-inf'))])
            top_scores, order = padded.topk(self.nms_pre)
            real = (order < valid_scores.shape[0]).nonzero().squeeze(1)
            top_scores, inds = top_scores[real], valid[order[real]]
            loc, label = inds // C, inds % C
            ys = (loc // w).to(torch.float32)
            xs = (loc % w).to(torch.float32)
            px = (xs + self.offset) * stride
            py = (ys + self.offset) * stride
            dist = reg[0].permute(1, 2, 0).reshape(-1, 4)[loc]
            box = torch.stack([
                (px - dist[:, 0]).clamp(min=0), (py - dist[:, 1]).clamp(min=0),
                (px + dist[:, 2]).clamp(min=0), (py + dist[:, 3]).clamp(min=0)
            ], dim=1)
            box = torch.minimum(box, torch.stack([max_x, max_y] * 2))
            boxes.append(box)
            scores.append(top_scores)
            labels.append(label)
            padded_tower = F.pad(tower[0], (1, 1, 1, 1))  # [C, h+2, w+2]
            flats.append(padded_tower.flatten(1))
            patch_inds.append(start + (loc // w + 1) * (w + 2) + loc % w + 1)
            row_len.append(torch.full_like(loc, 1) * (w + 2))
            start = start + (h + 2) * (w + 2)
        boxes, scores = torch.cat(boxes), torch.cat(scores).sqrt()
        labels = torch.cat(labels)
        patch_inds, row_len = torch.cat(patch_inds), torch.cat(row_len)
        if self.min_bbox_size >= 0:
            wh = boxes[:, 2:] - boxes[:, :2]
            big = ((wh[:, 0] > self.min_bbox_size) &
                   (wh[:, 1] > self.min_bbox_size)).nonzero().squeeze(1)
            boxes, scores, labels = boxes[big], scores[big], labels[big]
            patch_inds, row_len = patch_inds[big], row_len[big]
        return (boxes, scores, labels, patch_inds, row_len,
                torch.cat(flats, dim=1))

    def nms(self, boxes: Tensor, scores: Tensor, labels: Tensor) -> Tensor:
        """Indices ``[D]`` kept by (class-aware unless configured
        otherwise) NMS, by descending score, at most ``max_per_img``. Class
        awareness as mmcv's ``batched_nms``: boxes offset by ``label *
        (max coordinate + 1)``."""
        if self.class_agnostic:
            shifted = boxes
        else:
            # boxes are clipped to >= 0: the appended 0 keeps max() defined
            # without a candidate and does not change it otherwise
            top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
            shifted = boxes + (labels.to(boxes.dtype) * (top + 1))[:, None]
        keep = nms_keep(shifted, scores, self.iou_threshold)
        if self.max_per_img > 0:
            keep = keep[:self.max_per_img]
        return keep

    def attns(self, tower_flat: Tensor, centre: Tensor,
              row_len: Tensor) -> Tensor:
        """The top layer (3x3 conv) at the detections: ``tower_flat [C, T]``
        (padded towers, flattened), each detection's centre index ``[D]``
        and padded row length ``[D]`` -> ``[D, K*M*M]``."""
        top = self.model.bbox_head.top_layer
        if top is None:
            return tower_flat.new_zeros((centre.shape[0], 0))
        d = torch.arange(-1, 2, device=centre.device)
        inds = (centre[:, None, None] + d[None, :, None] * row_len[:, None,
                                                                   None] +
                d[None, None, :]).reshape(-1)  # [D*9], (dy, dx) row-major
        patches = tower_flat[:, inds].reshape(tower_flat.shape[0], -1, 9)
        patches = patches.permute(1, 0, 2).flatten(1)  # [D, C*9]
        return torch.addmm(top.bias, patches, top.weight.flatten(1).t())


def blend(blender: Blender, bases: Tensor, attns: Tensor,
          boxes: Tensor) -> Tensor:
    """The blender on the detections of image 0 with the exportable
    RoIAlign: ``bases [1, K, Hb, Wb]``, ``attns [D, K*M*M]``, ``boxes [D,
    4]`` (input pixels) -> mask probabilities ``[D, R, R]``."""
    pooler = blender.pooler
    # one dummy detection appended (and dropped) keeps every shape non-empty
    # without a detection: ONNX Reshape cannot infer -1 next to a 0
    num = boxes.shape[0]
    boxes = torch.cat([boxes.to(bases.dtype), boxes.new_zeros((1, 4))])
    attns = torch.cat([attns, attns.new_zeros((1, attns.shape[1]))])
    crops = roi_align(bases, boxes,
                      torch.zeros_like(boxes[:, 0], dtype=torch.long),
                      blender.bottom_resolution, pooler.spatial_scale,
                      pooler.sampling_ratio)
    out = blender.merge(crops, attns)[:num]
    return out.sigmoid()
