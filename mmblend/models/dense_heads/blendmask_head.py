"""The AdelaiDet-faithful FCOS host of BlendMask's top layer."""

import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmdet.models.utils import filter_scores_and_topk
from mmdet.registry import MODELS
from mmdet.structures.bbox import cat_boxes
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from .blend_hosts import BlendFCOSHead


@MODELS.register_module()
class BlendMaskHead(BlendFCOSHead):
    """FCOS box head with BlendMask's top layer, as in AdelaiDet.

    A :class:`~mmblend.models.dense_heads.BlendFCOSHead` (mmdet's FCOS with
    the top layer, box-centre sampling, positives with their matched GT and
    centerness mask-loss weights) with AdelaiDet's conventions:

    * inference thresholds ``sigmoid(cls) * sigmoid(ctr)`` at
      ``test_cfg.score_thr`` (AdelaiDet's ``thresh_with_ctr``); mmdet's FCOS
      thresholds ``sigmoid(cls)`` alone;
    * **score convention**: reported ``scores`` are
      ``sqrt(sigmoid(cls) * sigmoid(ctr))`` as in AdelaiDet (mmdet's FCOS
      reports the product without sqrt). The ranking, hence AP, is the same;
      thresholds on these scores (e.g. panoptic fusion) are on the sqrt
      scale. ``score_thr=0.05`` on the product equals ``sqrt >= 0.224``.
    * ``feat_indices`` picks the pyramid levels the head runs on, so an FPN
      with an extra P2 level (for stride-4 bases or panoptic) leaves FCOS on
      P3-P7.
    * ``share_tower=True`` (BlendMask-RT) uses one conv tower for
      classification and regression.

    Args:
        feat_indices (Sequence[int], optional): indices of the input levels
            used, one per ``strides`` entry. Defaults to all.
        share_tower (bool): share one tower between cls and box branches.
    """

    def __init__(
        self,
        *args,
        feat_indices: Optional[Sequence[int]] = None,
        share_tower: bool = False,
        **kwargs,
    ) -> None:
        self.share_tower = share_tower
        self.feat_indices = (
            None if feat_indices is None else tuple(feat_indices)
        )
        super().__init__(*args, **kwargs)
        if self.feat_indices is not None and len(self.feat_indices) != len(
            self.strides
        ):
            raise ValueError(
                f'feat_indices {self.feat_indices} must name one '
                f'level per stride {tuple(self.strides)}'
            )

    def _init_reg_convs(self) -> None:
        if self.share_tower:
            self.reg_convs = nn.ModuleList()
        else:
            super()._init_reg_convs()

    def forward(self, x: Tuple[Tensor]) -> tuple:
        """``(box_towers, cls_scores, bbox_preds, centernesses)``, per level
        ``[B, C, Hl, Wl]``, ``[B, C, Hl, Wl]``, ``[B, 4, Hl, Wl]``,
        ``[B, 1, Hl, Wl]``, on the levels ``feat_indices`` names."""
        if self.feat_indices is not None:
            if max(self.feat_indices) >= len(x):
                raise ValueError(
                    f'BlendMaskHead.feat_indices '
                    f'{self.feat_indices} but the neck gives '
                    f'{len(x)} levels'
                )
            x = tuple(x[i] for i in self.feat_indices)
        elif len(x) != len(self.strides):
            raise ValueError(
                f'BlendMaskHead got {len(x)} levels for strides '
                f'{tuple(self.strides)}; set feat_indices to choose levels'
            )
        return super().forward(x)

    def forward_single(
        self, x: Tensor, scale: Scale, stride: int
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """FCOS's outputs of one level, with the shared tower when
        ``share_tower``."""
        cls_feat = x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        if self.share_tower:
            reg_feat = cls_feat
        else:
            reg_feat = x
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
        cls_score = self.conv_cls(cls_feat)
        bbox_pred = scale(self.conv_reg(reg_feat)).float()
        centerness = self.conv_centerness(
            reg_feat if self.centerness_on_reg else cls_feat
        )
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        return cls_score, bbox_pred, centerness

    def score_cut(self, score_thr: float) -> Tuple[float, float]:
        """``score_thr`` applies to ``sigmoid(cls) * sigmoid(ctr)``, reported
        as its square root."""
        return (float(score_thr) ** 0.5,) * 2

    def candidate_scores(self, level_outs: Sequence[Tensor]) -> Tensor:
        """``sigmoid(cls) * sigmoid(ctr)``, ``[Hl*Wl, C]``, from one level's
        ``(cls [C, Hl, Wl], bbox, ctr [1, Hl, Wl])`` of one image."""
        cls_score, _, ctr = level_outs
        scores = (
            cls_score.permute(1, 2, 0)
            .reshape(-1, self.cls_out_channels)
            .sigmoid()
        )
        return scores * ctr.permute(1, 2, 0).reshape(-1, 1).sigmoid()

    def _predict_by_feat_single(
        self,
        cls_score_list: List[Tensor],
        bbox_pred_list: List[Tensor],
        score_factor_list: List[Tensor],
        mlvl_priors: List[Tensor],
        img_meta: dict,
        cfg: ConfigDict,
        rescale: bool = False,
        with_nms: bool = True,
    ) -> InstanceData:
        """Detections of one image, AdelaiDet's post-processing.

        Per level: :meth:`candidate_scores` thresholded at
        ``cfg.score_thr`` and top ``cfg.nms_pre``; then class-aware NMS and
        ``cfg.max_per_img``. Returns ``bboxes [D, 4]``, ``scores [D]``
        (sqrt convention, see class doc), ``labels [D]``.
        """
        cfg = copy.deepcopy(self.test_cfg if cfg is None else cfg)
        mlvl_bbox, mlvl_points, mlvl_scores, mlvl_labels = [], [], [], []
        for level_outs, points in zip(
            zip(cls_score_list, bbox_pred_list, score_factor_list), mlvl_priors
        ):
            bbox_pred = level_outs[1].permute(1, 2, 0).reshape(-1, 4)
            scores, labels, _, kept = filter_scores_and_topk(
                self.candidate_scores(level_outs),
                cfg.get('score_thr', 0),
                cfg.get('nms_pre', -1),
                dict(bbox_pred=bbox_pred, points=points),
            )
            mlvl_bbox.append(kept['bbox_pred'])
            mlvl_points.append(kept['points'])
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
        results = InstanceData()
        results.bboxes = self.bbox_coder.decode(
            cat_boxes(mlvl_points),
            torch.cat(mlvl_bbox),
            max_shape=img_meta['img_shape'],
        )
        results.scores = torch.cat(mlvl_scores).sqrt()
        results.labels = torch.cat(mlvl_labels)
        return self._bbox_post_process(
            results=results,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms,
            img_meta=img_meta,
        )
