"""BlendMask's mask branch: bottom module + blender + mask loss."""

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.dense_heads.base_mask_head import BaseMaskHead
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
from mmdet.registry import MODELS
from mmdet.utils import (
    ConfigType,
    InstanceList,
    OptConfigType,
    OptInstanceList,
    reduce_mean,
)
from mmengine.structures import InstanceData
from torch import Tensor

from ..layers.blender import Blender


@MODELS.register_module()
class BlendMaskMaskHead(BaseMaskHead):
    """Mask head of BlendMask, fed by the positives of a host box head
    (:class:`BlendMaskHead` or any ``Blend*Head`` of the mixing mechanism).

    Training: every FCOS positive uses its matched GT box as the proposal;
    the target is the GT mask cropped and resized to ``R x R`` (mmcv
    RoIAlign, aligned); the loss is the per-instance mean BCE weighted by
    the positive's mask-loss weight (centerness target where the host defines
    one, else 1) and normalised by the sum of those weights (all-reduced
    across processes, so every rank uses the same normaliser). An image
    without GT contributes a finite zero.

    Inference: the blender runs on the FCOS detections; masks are pasted at
    the original image size and thresholded at ``test_cfg.mask_thr``.

    Args:
        basis (dict): bottom module config (``DeepLabV3PlusBasis`` or
            ``ProtoNetBasis``).
        blender (dict): :class:`~mmblend.models.layers.Blender` config;
            ``bases_stride`` defaults to the basis module's ``out_stride``
            and must equal it.
        loss_mask_weight (float): Defaults to 1.0.
        max_proposals (int): if > 0, keep at most this many (random)
            positives per batch for the mask loss (a speed knob; -1 keeps
            all, as the paper).
        train_cfg, test_cfg (dict): ``test_cfg.mask_thr`` (0.5),
            ``clip_after_mask`` and ``paste_unclipped`` (where boxes are
            clipped to the image, see :func:`postprocess_masks`).
    """

    def __init__(
        self,
        basis: ConfigType,
        blender: ConfigType = dict(type='Blender'),
        loss_mask_weight: float = 1.0,
        max_proposals: int = -1,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg=None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.basis, self.blender = build_basis_and_blender(basis, blender)
        self.loss_mask_weight = loss_mask_weight
        self.max_proposals = max_proposals
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def forward(
        self, x: Sequence[Tensor], positive_infos: OptInstanceList = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """``(bases, sem_logits)``: ``[B, K, H/s, W/s]`` and
        ``[B, C+1, H/8, W/8]`` (None without the semantic head or at
        inference)."""
        return self.basis(x)

    def _check_bases(self, bases: Tensor, batch_img_metas: List[dict]) -> None:
        h, w = batch_img_metas[0]['batch_input_shape']
        s = self.basis.out_stride
        if abs(bases.size(2) * s - h) >= s or abs(bases.size(3) * s - w) >= s:
            raise ValueError(
                f'bases of size {tuple(bases.shape[-2:])} for a {h}x{w} input '
                f'are not at the declared out_stride={s} of '
                f'{type(self.basis).__name__}; fix its in_indices/out_stride'
            )

    def _mask_loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Per-instance mean BCE with logits, ``[n, R, R]`` x2 -> ``[n]``,
        computed in float32 with autocast disabled (mixed precision hands
        over float16 logits)."""
        with torch.autocast(device_type=logits.device.type, enabled=False):
            loss = F.binary_cross_entropy_with_logits(
                logits.float(), targets.float(), reduction='none'
            )
        return loss.flatten(1).mean(dim=1)

    def loss_by_feat(
        self,
        bases: Tensor,
        sem_logits: Optional[Tensor],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        positive_infos: InstanceList,
        **kwargs,
    ) -> Dict[str, Tensor]:
        """Mask loss (+ semantic loss) of a batch.

        Args:
            bases: ``[B, K, H/s, W/s]``.
            sem_logits: ``[B, C+1, H/8, W/8]`` or None.
            batch_gt_instances: GT with ``bboxes``, ``labels``, ``masks``
                (padded to the batch input).
            positive_infos: from the host's ``get_positive_infos()``
                (``attns``, ``pos_assigned_gt_inds``, ``mask_weights``).
        """
        if positive_infos is None:
            raise ValueError(
                'BlendMaskMaskHead needs positive_infos from a '
                'Blend* bbox head (BlendMaskHead, BlendATSSHead, '
                '...)'
            )
        self._check_bases(bases, batch_img_metas)
        R = self.blender.bottom_resolution
        gt_rois, gt_targets, pos_gt, attns, weights = [], [], [], [], []
        num_gts = 0
        for img_id, (gt, info) in enumerate(
            zip(batch_gt_instances, positive_infos)
        ):
            boxes = gt.bboxes
            if len(gt) > 0:
                gt_rois.append(
                    torch.cat(
                        [boxes.new_full((len(gt), 1), img_id), boxes], dim=1
                    )
                )
                gt_targets.append(
                    gt.masks.crop_and_resize(
                        boxes.detach().cpu().numpy(),
                        (R, R),
                        np.arange(len(gt)),
                        device=boxes.device,
                    ).to_tensor(boxes.dtype, boxes.device)
                )
            pos_gt.append(info.pos_assigned_gt_inds + num_gts)
            attns.append(info.attns)
            weights.append(info.mask_weights)
            num_gts += len(gt)
        pos_gt = torch.cat(pos_gt)
        attns = torch.cat(attns)
        weights = torch.cat(weights)
        if 0 < self.max_proposals < len(pos_gt):
            keep = torch.randperm(len(pos_gt), device=pos_gt.device)
            keep = keep[: self.max_proposals]
            pos_gt, attns, weights = pos_gt[keep], attns[keep], weights[keep]
        # All ranks must normalise by the same number, even ranks with no
        # positive (their partial sum is 0).
        denom = reduce_mean(weights.sum().detach()).clamp(min=1e-6)
        if len(pos_gt) > 0:
            gt_rois = torch.cat(gt_rois)
            gt_targets = torch.cat(gt_targets)
            # The crop of a GT box is shared by all of its positives.
            crops = self.blender.crop(bases, gt_rois)[pos_gt]
            preds = self.blender.merge(crops, attns)
            loss_mask = (
                self._mask_loss(preds, gt_targets[pos_gt]) * weights
            ).sum() / denom
        else:
            # Keep every parameter in the graph (DDP) with a zero loss.
            loss_mask = bases.sum() * 0 + attns.sum() * 0
        # ``mask_avg_factor`` is logged, not optimised (no 'loss' in its name)
        losses = dict(
            loss_mask=loss_mask * self.loss_mask_weight,
            mask_avg_factor=denom.detach(),
        )
        if sem_logits is not None:
            losses['loss_sem'] = self.basis.loss_semantic(
                sem_logits,
                batch_gt_instances,
                batch_img_metas[0]['batch_input_shape'],
            )
        for name, value in losses.items():
            if name.startswith('loss') and not torch.isfinite(value):
                raise FloatingPointError(
                    f'{name} is {value.item()}: training diverged (lower the '
                    'learning rate or check the annotations)'
                )
        return losses

    def predict_by_feat(
        self,
        bases: Tensor,
        sem_logits: Optional[Tensor],
        results_list: InstanceList,
        batch_img_metas: List[dict],
        rescale: bool = True,
        **kwargs,
    ) -> InstanceList:
        """Blend the detections' attentions and paste masks.

        Args:
            bases: ``[B, K, H/s, W/s]``.
            results_list: per image detections with ``bboxes [D, 4]`` (input
                scale), ``scores``, ``labels``, ``attns [D, K*M*M]``; a
                detection with a non-finite or inverted box gets an empty
                mask.
            rescale: paste at ``ori_shape`` and rescale boxes (else at
                ``img_shape``).

        Returns:
            per image ``InstanceData`` with ``bboxes``, ``scores``,
            ``labels`` and ``masks [D, H, W]`` (bool).
        """
        self._check_bases(bases, batch_img_metas)
        out = []
        for results, prob, meta in zip(
            results_list, self.blend(bases, results_list), batch_img_metas
        ):
            del results.attns
            out.append(
                postprocess_masks(results, prob, meta, rescale, self.test_cfg)
            )
        return out

    def blend(self, bases: Tensor, results_list: InstanceList) -> List[Tensor]:
        """The blender on each image's detections (``bboxes [D, 4]`` at the
        input scale, ``attns [D, K*M*M]``): box-relative mask probabilities
        ``[D, R, R]`` per image (traceable: the exported graph ends
        here). A box RoIAlign cannot take gets zeros: a non-finite one (a
        host that does not clip, such as YOLOX, may decode one; mmcv's
        RoIAlign reads out of bounds on it) or an inverted one (kept when
        ``test_cfg.min_bbox_size`` is absent or negative). The blender runs
        on every box (those with a stand-in) so that eager inference and
        the traced graph are the same code without a branch."""
        rois = torch.cat(
            [
                torch.cat(
                    [torch.full_like(r.bboxes[:, :1], i), r.bboxes], dim=1
                )
                for i, r in enumerate(results_list)
            ]
        )
        attns = torch.cat([r.attns for r in results_list])
        boxes = rois[:, 1:]
        valid = (
            torch.isfinite(boxes).all(dim=1)
            & (boxes[:, 2] >= boxes[:, 0])
            & (boxes[:, 3] >= boxes[:, 1])
        )
        # a zero of the boxes' dtype, not a Python 0.: torch 2.1's ONNX
        # exporter makes that a double constant, which onnxruntime refuses
        rois = torch.cat(
            [
                rois[:, :1],
                torch.where(valid[:, None], boxes, boxes.new_zeros(())),
            ],
            dim=1,
        )
        probs = (
            self.blender(bases, attns, rois).sigmoid() * valid[:, None, None]
        )
        if len(results_list) == 1:
            return [probs]
        return list(probs.split([len(r) for r in results_list]))


def postprocess_masks(
    results: InstanceData,
    probs: Tensor,
    img_meta: dict,
    rescale: bool = True,
    test_cfg: OptConfigType = None,
) -> InstanceData:
    """One image's detections with their blended masks, at the output scale.

    Boxes are rescaled to ``ori_shape`` (``rescale``; else kept at
    ``img_shape``) and each ``R x R`` mask probability map is pasted into
    its box and thresholded at ``test_cfg.mask_thr`` (0.5). Where boxes are
    clipped is ``test_cfg.clip_after_mask``:

    * ``False`` (mmdet's order, the default): the host clipped the boxes to
      the image when it decoded them, before NMS and the blender;
    * ``True`` (AdelaiDet's order, detectron2's ``detector_postprocess``):
      NMS, the top-k cut and the blender saw unclipped boxes; here they are
      clipped to the image, the empty ones dropped, and each mask is pasted
      into its clipped box (the crop of the unclipped box squeezed into the
      clipped one, as AdelaiDet does) or, with ``test_cfg.paste_unclipped``,
      pasted with its unclipped box and cut at the image border (the
      geometrically consistent choice).

    Args:
        results: ``bboxes [D, 4]`` (input scale), ``scores``, ``labels``.
        probs: ``[D, R, R]`` box-relative mask probabilities.
        img_meta: ``scale_factor``, ``ori_shape``, ``img_shape``.

    Returns:
        ``results`` with ``bboxes`` at the output scale and ``masks [D', H,
        W]`` (bool), ``D' <= D`` after dropping empty boxes.
    """
    cfg = test_cfg or {}
    boxes = results.bboxes
    if rescale:
        scale = boxes.new_tensor(img_meta['scale_factor']).repeat(1, 2)
        boxes = boxes / scale
        img_h, img_w = img_meta['ori_shape'][:2]
    else:
        img_h, img_w = img_meta['img_shape'][:2]
    paste_boxes = boxes
    if cfg.get('clip_after_mask', False):
        clipped = torch.stack(
            [
                boxes[:, 0].clamp(0, img_w),
                boxes[:, 1].clamp(0, img_h),
                boxes[:, 2].clamp(0, img_w),
                boxes[:, 3].clamp(0, img_h),
            ],
            dim=1,
        )
        keep = (clipped[:, 2] > clipped[:, 0]) & (
            clipped[:, 3] > clipped[:, 1]
        )
        results, probs, clipped = results[keep], probs[keep], clipped[keep]
        paste_boxes = (
            boxes[keep] if cfg.get('paste_unclipped', False) else clipped
        )
        boxes = clipped
    elif cfg.get('paste_unclipped', False):
        raise ValueError(
            'test_cfg.paste_unclipped=True needs '
            'test_cfg.clip_after_mask=True (boxes clipped before '
            'NMS have no unclipped box to paste with)'
        )
    results.bboxes = boxes
    results.masks = paste_masks(
        probs, paste_boxes, img_h, img_w, cfg.get('mask_thr', 0.5)
    )
    return results


def build_basis_and_blender(
    basis: ConfigType, blender: ConfigType
) -> Tuple[nn.Module, Blender]:
    """Build a bottom module and its blender; the blender's
    ``bases_stride`` and ``num_bases`` default to the basis module's and
    must equal them (clear errors otherwise)."""
    basis = MODELS.build(basis)
    blender = dict(blender)
    blender.setdefault('type', 'Blender')
    blender.setdefault('bases_stride', basis.out_stride)
    blender.setdefault('num_bases', basis.num_bases)
    blender = MODELS.build(blender)
    if blender.bases_stride != basis.out_stride:
        raise ValueError(
            f'Blender.bases_stride={blender.bases_stride} but the basis '
            f'module {type(basis).__name__} outputs stride '
            f'{basis.out_stride}: the blender would crop the wrong region. '
            'Set them equal (or leave bases_stride unset).'
        )
    if blender.num_bases != basis.num_bases:
        raise ValueError(
            f'Blender.num_bases={blender.num_bases} but the basis module '
            f'predicts {basis.num_bases} bases'
        )
    return basis, blender


def paste_masks(
    probs: Tensor,
    boxes: Tensor,
    img_h: int,
    img_w: int,
    threshold: float = 0.5,
) -> Tensor:
    """Paste ``[D, R, R]`` box-relative probabilities into ``[D, H, W]`` bool
    masks. On CPU each mask is pasted only over its box region (cost grows
    with box area, not image area); on GPU in chunks over the whole image.
    A box without area inside the image (entirely outside it, from a host
    that does not clip its boxes such as YOLOX, inverted, or not finite)
    gets an empty mask.
    """
    D = probs.size(0)
    masks = torch.zeros(
        (D, img_h, img_w), dtype=torch.bool, device=probs.device
    )
    x0, y0, x1, y1 = boxes.unbind(1)
    hits = (
        (
            (x1 > x0.clamp(min=0))
            & (x0 < x1.clamp(max=img_w))
            & (y1 > y0.clamp(min=0))
            & (y0 < y1.clamp(max=img_h))
            & torch.isfinite(boxes).all(dim=1)
        )
        .nonzero()
        .squeeze(1)
    )
    if len(hits) == 0:
        return masks
    if probs.device.type == 'cpu':
        _paste_box_regions(probs, boxes, hits, threshold, masks)
        return masks
    # mmdet's paste over the whole image, in chunks of ~1 GB of float grids
    num_chunks = int(math.ceil(len(hits) * img_h * img_w * 4 / 2**30))
    for inds in torch.chunk(hits, num_chunks):
        chunk, _ = _do_paste_mask(
            probs[inds, None], boxes[inds], img_h, img_w, skip_empty=False
        )
        masks[inds] = chunk >= threshold
    return masks


def _paste_box_regions(
    probs: Tensor, boxes: Tensor, hits: Tensor, threshold: float, masks: Tensor
) -> None:
    """Paste ``probs[hits]`` ``[D, R, R]`` into ``masks[hits]`` ``[D, H, W]``
    (bool, zeros) box by box, each over its box grown by one pixel: mmdet's
    ``_do_paste_mask(skip_empty=True)`` on one box (the same region, grid
    and bilinear sampling, so the same masks), with the grid arithmetic done
    once for all boxes and plain slices for the writes, which makes it
    cheap for 100 small boxes."""
    img_h, img_w = masks.shape[-2:]
    x0, y0, x1, y1 = boxes[hits].split(1, dim=1)  # each [n, 1]

    def region(
        lo: Tensor, hi: Tensor, size: int
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """First pixel and pixel count of each box's region on one axis,
        and its grid coordinates ``[n, max count]`` (in [-1, 1] inside the
        box; grid_sample's ``align_corners=False`` convention)."""
        start = (lo.floor() - 1).clamp(min=0).int()
        count = (hi.ceil() + 1).clamp(max=size).int() - start
        pixel = start + torch.arange(int(count.max()), dtype=torch.int32)
        grid = (pixel.float() + 0.5 - lo) / (hi - lo) * 2 - 1
        return start, count, grid.masked_fill(torch.isinf(grid), 0)

    xs, ws, gx = region(x0, x1, img_w)
    ys, hs, gy = region(y0, y1, img_h)
    for k, (i, x, y, w, h) in enumerate(
        zip(*(t.view(-1).tolist() for t in (hits, xs, ys, ws, hs)))
    ):
        grid = torch.stack(
            [gx[k, :w].expand(h, w), gy[k, :h, None].expand(h, w)], dim=2
        )
        prob = F.grid_sample(
            probs[i][None, None].float(), grid[None], align_corners=False
        )
        masks[i, y : y + h, x : x + w] = prob[0, 0] >= threshold
