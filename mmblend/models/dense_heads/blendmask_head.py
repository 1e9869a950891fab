"""FCOS head with BlendMask's top layer (per-location attentions)."""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import CondInstBboxHead
from mmdet.models.utils import filter_scores_and_topk
from mmdet.registry import MODELS
from mmdet.structures.bbox import cat_boxes
from mmdet.structures import SampleList
from mmdet.utils import InstanceList


@MODELS.register_module()
class BlendMaskHead(CondInstBboxHead):
    """FCOS box head plus BlendMask's top layer.

    The top layer is one 3x3 conv on each level's box (regression) tower
    predicting ``attn_channels = K*M*M`` attentions per location (std 0.01
    init, from FCOS's ``init_cfg``). With ``attn_channels=0`` (the FCIS-like
    assembler) no top layer is built.

    Built on mmdet's :class:`CondInstBboxHead`, which keeps the matched GT
    index of every FCOS positive. Differences:

    * center sampling uses box centres (FCOS / AdelaiDet), not mask
      centroids;
    * :meth:`get_positive_infos` gives, per image, ``attns [P, K*M*M]``,
      ``pos_assigned_gt_inds [P]`` and ``centerness_targets [P]`` (the mask
      loss weights);
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
    * the top layer runs only where its output is used: at the FCOS
      positives in :meth:`loss` and at the final detections in
      :meth:`predict` (see :meth:`attns_at`); :meth:`forward`
      (``mode='tensor'``) gives the dense maps.

    Args:
        attn_channels (int): K*M*M, 0 for no top layer. The
            :class:`~mmblend.models.BlendMask` detector fills it from its
            blender.
        feat_indices (Sequence[int], optional): indices of the input levels
            used, one per ``strides`` entry. Defaults to all.
        share_tower (bool): share one tower between cls and box branches.
    """

    def __init__(self,
                 *args,
                 attn_channels: int = 784,
                 feat_indices: Optional[Sequence[int]] = None,
                 share_tower: bool = False,
                 **kwargs) -> None:
        self.share_tower = share_tower
        # set by loss() / predict(): forward() then returns the box-tower
        # output in place of attentions, and the top layer runs later at
        # the positives / detections only
        self._sparse_top_layer = False
        self.feat_indices = None if feat_indices is None else tuple(
            feat_indices)
        super().__init__(*args, num_params=attn_channels, **kwargs)
        if self.feat_indices is not None and len(self.feat_indices) != len(
                self.strides):
            raise ValueError(f'feat_indices {self.feat_indices} must name one '
                             f'level per stride {tuple(self.strides)}')

    @property
    def attn_channels(self) -> int:
        return self.num_params

    def _init_reg_convs(self) -> None:
        if self.share_tower:
            self.reg_convs = nn.ModuleList()
        else:
            super()._init_reg_convs()

    def _init_layers(self) -> None:
        super(CondInstBboxHead, self)._init_layers()
        self.top_layer = nn.Conv2d(
            self.feat_channels, self.num_params, 3,
            padding=1) if self.num_params > 0 else None

    def forward(self, x: Tuple[Tensor]) -> Tuple[List[Tensor], ...]:
        """Per level ``cls [B, C, Hl, Wl]``, ``box [B, 4, Hl, Wl]``,
        ``ctr [B, 1, Hl, Wl]``, ``attn [B, K*M*M, Hl, Wl]``."""
        if self.feat_indices is not None:
            if max(self.feat_indices) >= len(x):
                raise ValueError(f'BlendMaskHead.feat_indices '
                                 f'{self.feat_indices} but the neck gives '
                                 f'{len(x)} levels')
            x = tuple(x[i] for i in self.feat_indices)
        elif len(x) != len(self.strides):
            raise ValueError(
                f'BlendMaskHead got {len(x)} levels for strides '
                f'{tuple(self.strides)}; set feat_indices to choose levels')
        return super().forward(x)

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
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
            reg_feat if self.centerness_on_reg else cls_feat)
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        if self.top_layer is None:
            b, _, h, w = reg_feat.shape
            attn = reg_feat.new_zeros((b, 0, h, w))
        elif self._sparse_top_layer:
            attn = reg_feat  # the top layer runs later, see attns_at()
        else:
            attn = self.top_layer(reg_feat)
        return cls_score, bbox_pred, centerness, attn

    def loss(self, x: Tuple[Tensor], batch_data_samples: SampleList) -> dict:
        """FCOS losses; the top layer is evaluated later, by
        :meth:`get_positive_infos`, at the positives only (a few hundred of
        the thousands of locations): the same attentions and gradients as
        the dense conv at a fraction of its cost."""
        self._sparse_top_layer = self.top_layer is not None
        try:
            losses = super().loss(x, batch_data_samples)
        finally:
            self._sparse_top_layer = False
        raw = self._raw_positive_infos
        if self.top_layer is not None:
            raw['tower_feats'] = raw.pop('param_preds')
        return losses

    def loss_by_feat(self, *args, **kwargs) -> dict:
        # a direct call passes dense attentions: forget an earlier loss()'s
        # tower features
        self._raw_positive_infos.pop('tower_feats', None)
        return super().loss_by_feat(*args, **kwargs)

    def predict(self, x: Tuple[Tensor], batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        """Detections with their attentions.

        The top layer is evaluated only at the final (post-NMS) detections
        from the 3x3 neighbourhood of each in the box tower: the same
        numbers as the dense conv, without computing K*M*M channels at
        every location of every level (the dense layer costs about as much
        as an R-50 backbone at 800x1216).
        """
        self._sparse_top_layer = self.top_layer is not None
        try:
            return super().predict(x, batch_data_samples, rescale=rescale)
        finally:
            self._sparse_top_layer = False

    def attns_at(self, tower_feats: List[Tensor], levels: Tensor,
                 indices: Tensor) -> Tensor:
        """Top-layer output at given locations of one image.

        Args:
            tower_feats: per level box-tower output ``[C, Hl, Wl]``.
            levels: ``[D]`` level of each location.
            indices: ``[D]`` flat index ``y * Wl + x`` within its level.

        Returns:
            Tensor: ``[D, K*M*M]``, equal to ``top_layer(tower)`` there.
        """
        weight = self.top_layer.weight.flatten(1).t()  # [C*9, K*M*M]
        if len(indices) == 0:  # keeps the layer in the graph (DDP)
            return torch.addmm(self.top_layer.bias,
                               weight.new_zeros((0, weight.size(0))), weight)
        out = weight.new_zeros((len(indices), weight.size(1)))
        offsets = torch.arange(3, device=indices.device)
        for lvl in levels.unique().tolist():
            sel = (levels == lvl).nonzero().squeeze(1)
            feat = nn.functional.pad(tower_feats[lvl], (1, 1, 1, 1))
            w = tower_feats[lvl].size(-1)
            ys = (indices[sel] // w)[:, None, None] + offsets[None, :, None]
            xs = (indices[sel] % w)[:, None, None] + offsets[None, None, :]
            patches = feat[:, ys, xs].permute(1, 0, 2, 3).flatten(1)
            out[sel] = torch.addmm(self.top_layer.bias, patches, weight)
        return out

    def get_targets(self, points: List[Tensor],
                    batch_gt_instances: InstanceList) -> tuple:
        """FCOS targets with box-centre sampling, keeping matched GT indices.

        Also stores the per-level regression targets for the centerness
        weights of the mask loss.
        """
        boxes_only = [
            InstanceData(bboxes=gt.bboxes, labels=gt.labels)
            for gt in batch_gt_instances
        ]
        targets = super().get_targets(points, boxes_only)
        self._raw_positive_infos.update(bbox_targets=targets[1])
        return targets

    def get_positive_infos(self) -> InstanceList:
        """Positives of the last :meth:`loss` call, per image:
        ``attns [P, K*M*M]``, ``pos_assigned_gt_inds [P]``,
        ``centerness_targets [P]``, ``pos_inds [P]``."""
        raw = self._raw_positive_infos
        if 'pos_inds_list' not in raw:
            raise RuntimeError('get_positive_infos() needs a loss() call first')
        num_imgs = len(raw['pos_inds_list'])
        tower = raw.get('tower_feats')
        if tower is None:  # dense attentions [B, K*M*M, Hl, Wl] per level
            attns = torch.cat([
                a.permute(0, 2, 3, 1).reshape(num_imgs, a.size(2) * a.size(3),
                                              a.size(1))
                for a in raw['param_preds']
            ], dim=1)
        else:  # box-tower outputs: the top layer at the positives only
            sizes = torch.tensor([t.size(2) * t.size(3) for t in tower],
                                 device=tower[0].device)
            starts = sizes.cumsum(0) - sizes
        bbox_targets = torch.cat(
            [t.reshape(num_imgs, -1, 4) for t in raw['bbox_targets']], dim=1)
        infos = []
        for i, (pos_inds, gt_inds) in enumerate(
                zip(raw['pos_inds_list'], raw['pos_gt_inds_list'])):
            info = InstanceData()
            if tower is None:
                info.attns = attns[i][pos_inds]
            else:
                levels = torch.searchsorted(starts, pos_inds, right=True) - 1
                info.attns = self.attns_at([t[i] for t in tower], levels,
                                           pos_inds - starts[levels])
            info.pos_assigned_gt_inds = gt_inds
            info.centerness_targets = self.centerness_target(
                bbox_targets[i][pos_inds]) if len(pos_inds) else \
                bbox_targets.new_zeros((0, ))
            info.pos_inds = pos_inds
            infos.append(info)
        return infos

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                param_pred_list: List[Tensor],
                                mlvl_points: List[Tensor],
                                mlvl_strides: List[Tensor],
                                img_meta: dict,
                                cfg: ConfigDict,
                                rescale: bool = False,
                                with_nms: bool = True) -> InstanceData:
        """Detections of one image with their attentions.

        Per level: ``sigmoid(cls) * sigmoid(ctr)`` thresholded at
        ``cfg.score_thr`` and top ``cfg.nms_pre``; then class-aware NMS and
        ``cfg.max_per_img``. Returns ``bboxes [D, 4]``, ``scores [D]``
        (sqrt convention, see class doc), ``labels [D]``,
        ``attns [D, K*M*M]``. ``param_pred_list`` holds dense attentions
        ``[K*M*M, H, W]`` per level, or, inside :meth:`predict`, the box
        tower outputs from which :meth:`attns_at` computes the attentions of
        the kept detections only.
        """
        sparse = self._sparse_top_layer
        cfg = copy.deepcopy(self.test_cfg if cfg is None else cfg)
        nms_pre = cfg.get('nms_pre', -1)
        score_thr = cfg.get('score_thr', 0)
        mlvl_bbox, mlvl_points_kept, mlvl_scores, mlvl_labels, mlvl_attn = \
            [], [], [], [], []
        mlvl_levels, mlvl_indices = [], []
        for level, (cls_score, bbox_pred, ctr, attn, points) in enumerate(
                zip(cls_score_list, bbox_pred_list, score_factor_list,
                    param_pred_list, mlvl_points)):
            num_points = cls_score.shape[-2] * cls_score.shape[-1]
            scores = cls_score.permute(1, 2, 0).reshape(
                num_points, self.cls_out_channels).sigmoid()
            ctr = ctr.permute(1, 2, 0).reshape(num_points).sigmoid()
            scores = scores * ctr[:, None]
            carried = dict(
                bbox_pred=bbox_pred.permute(1, 2, 0).reshape(num_points, 4),
                points=points)
            if not sparse:
                carried['attn'] = attn.permute(1, 2, 0).reshape(
                    num_points, attn.size(0))
            scores, labels, keep_idxs, kept = filter_scores_and_topk(
                scores, score_thr, nms_pre, carried)
            mlvl_bbox.append(kept['bbox_pred'])
            if sparse:
                mlvl_levels.append(keep_idxs.new_full(keep_idxs.shape, level))
                mlvl_indices.append(keep_idxs)
            else:
                mlvl_attn.append(kept['attn'])
            mlvl_points_kept.append(kept['points'])
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
        results = InstanceData()
        results.bboxes = self.bbox_coder.decode(
            cat_boxes(mlvl_points_kept), torch.cat(mlvl_bbox),
            max_shape=img_meta['img_shape'])
        results.scores = torch.cat(mlvl_scores).sqrt()
        results.labels = torch.cat(mlvl_labels)
        if sparse:
            results.attn_levels = torch.cat(mlvl_levels)
            results.attn_indices = torch.cat(mlvl_indices)
        else:
            results.attns = torch.cat(mlvl_attn)
        results = self._bbox_post_process(
            results=results,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms,
            img_meta=img_meta)
        if sparse:
            results.attns = self.attns_at(param_pred_list,
                                          results.pop('attn_levels'),
                                          results.pop('attn_indices'))
        return results
