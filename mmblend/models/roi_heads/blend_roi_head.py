"""StandardRoIHead with the blender mask head (paper §4.3, two-stage)."""

from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads.standard_roi_head import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList
from torch import Tensor

from .blend_roi_head_mixin import BlendRoIHeadMixin


@MODELS.register_module()
class BlendRoIHead(BlendRoIHeadMixin, StandardRoIHead):
    """:class:`StandardRoIHead` whose mask head is
    :class:`~mmblend.models.BlendRoIMaskHead`: same arguments, boxes,
    sampling, mask targets and pasting; the mask forward also runs the basis
    module on the neck features ``x`` the RoI head receives, and training
    adds the basis module's semantic loss (``loss_sem``) beside
    ``loss_mask``. Checks and the bases/semantic-loss wiring:
    :class:`~mmblend.models.roi_heads.blend_roi_head_mixin.BlendRoIHeadMixin`.

    Every StandardRoIHead configuration is accepted, including
    ``mask_roi_extractor=None`` (mmdet's ``share_roi_extractor=True``, e.g.
    a C4 model with a ``shared_head``): there the mask features of the
    positive RoIs in training are their box features, as in mmdet, and the
    blender crops the bases with those RoIs (the sampling results'
    ``pos_priors``); at test time the detections' boxes go through the box
    RoI extractor (and the shared head) as in mmdet.
    """

    def blend_stages(self) -> List[Tuple[str, torch.nn.Module, ConfigType]]:
        """The one stage: ``[('', mask_head, train_cfg)]``."""
        return [('', self.mask_head, self.train_cfg)]

    def _mask_forward(
        self,
        x: Tuple[Tensor],
        rois: Optional[Tensor] = None,
        pos_inds: Optional[Tensor] = None,
        bbox_feats: Optional[Tensor] = None,
    ) -> dict:
        """Mask forward on ``rois [n, 5]``: RoI features, bases of ``x``
        (:meth:`with_bases`), blended masks.

        Args:
            x: neck features.
            rois: ``[n, 5]`` RoIs, always needed (the blender crops the
                bases with them).
            pos_inds: with ``bbox_feats`` (shared extractor, training):
                the rows of ``bbox_feats [N, C, S, S]`` that are the ``n``
                RoIs' box features, used as their mask features.
            bbox_feats: see ``pos_inds``.

        Returns:
            dict: ``mask_preds [n, 1, R, R]`` (logits), ``mask_feats [n, C,
            S, S]``.
        """
        if rois is None:
            raise ValueError(
                'BlendRoIHead._mask_forward needs the RoIs (the blender '
                'crops the bases with them), also with pos_inds/bbox_feats'
            )
        if bbox_feats is None:
            mask_feats = self.mask_roi_extractor(
                x[: self.mask_roi_extractor.num_inputs], rois
            )
            if self.with_shared_head:
                mask_feats = self.shared_head(mask_feats)
        else:
            mask_feats = bbox_feats[pos_inds]
        mask_preds = self.mask_head(mask_feats, self.with_bases(x).bases, rois)
        return dict(mask_preds=mask_preds, mask_feats=mask_feats)

    def mask_loss(
        self,
        x: Tuple[Tensor],
        sampling_results: List[SamplingResult],
        bbox_feats: Tensor,
        batch_gt_instances: InstanceList,
    ) -> dict:
        """StandardRoIHead's mask loss on the positive RoIs. With a shared
        extractor, mmdet's path hands the mask forward the positives' box
        features without their RoIs: here the RoIs go with them."""
        if not self.share_roi_extractor:
            return super().mask_loss(
                x, sampling_results, bbox_feats, batch_gt_instances
            )
        # bbox_feats rows follow each image's priors: positives, then
        # negatives (SamplingResult.priors)
        pos_inds = torch.cat(
            [
                torch.arange(len(res.priors), device=bbox_feats.device)
                < len(res.pos_priors)
                for res in sampling_results
            ]
        )
        mask_results = self._mask_forward(
            x,
            bbox2roi([res.pos_priors for res in sampling_results]),
            pos_inds,
            bbox_feats,
        )
        mask_results['loss_mask'] = self.mask_head.loss_and_target(
            mask_preds=mask_results['mask_preds'],
            sampling_results=sampling_results,
            batch_gt_instances=batch_gt_instances,
            rcnn_train_cfg=self.train_cfg,
        )['loss_mask']
        return mask_results
