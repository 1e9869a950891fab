"""CascadeRoIHead with blender mask heads (Cascade Mask R-CNN)."""

from typing import List, Optional, Tuple

import torch.nn as nn
from mmdet.models.roi_heads.cascade_roi_head import CascadeRoIHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, MultiConfig
from torch import Tensor

from .blend_roi_head_mixin import BlendRoIHeadMixin


@MODELS.register_module()
class BlendCascadeRoIHead(BlendRoIHeadMixin, CascadeRoIHead):
    """:class:`CascadeRoIHead` whose mask heads are
    :class:`~mmblend.models.BlendRoIMaskHead` s: same arguments, stages,
    box refinement, sampling, mask targets, stage loss weights
    (``s{i}.loss_mask`` weighted by ``stage_loss_weights[i]``) and
    test-time averaging of the stages' masks.

    One basis module, per-stage attention predictors: ``mask_head`` is, as
    in mmdet, one dict (used by every stage) or a list of ``num_stages``
    dicts; each stage is built as a :class:`BlendRoIMaskHead` (its
    attention predictor and blender, checked against the basis config), and
    the basis module is kept only in the first stage's head
    (``mask_head[0].basis``; the later stages' ``basis`` is None), so the
    checkpoint holds it once. The bases are computed once per batch, on the
    neck features the RoI head receives, and every stage blends its own
    attentions with them; the semantic loss (``loss_sem``) is added once,
    unweighted. In a list, every stage's ``basis`` must equal the first's.

    ``mask_roi_extractor=None`` (``share_roi_extractor=True``) is accepted:
    each stage's mask features then come from its box RoI extractor.
    Checks: those of
    :class:`~mmblend.models.roi_heads.blend_roi_head_mixin.BlendRoIHeadMixin`
    for every stage (``train_cfg.rcnn[i].mask_size`` = R).
    """

    def init_mask_head(
        self, mask_roi_extractor: Optional[MultiConfig], mask_head: MultiConfig
    ) -> None:
        """CascadeRoIHead's per-stage mask heads and extractors, checked;
        then the later stages' basis modules are dropped (the bases come
        from ``mask_head[0].basis``)."""
        if isinstance(mask_head, list):
            for i, cfg in enumerate(mask_head[1:], 1):
                if cfg.get('basis') != mask_head[0].get('basis'):
                    raise ValueError(
                        f'roi_head.mask_head[{i}].basis differs from '
                        'roi_head.mask_head[0].basis: the stages share the '
                        'first stage\'s basis module; give every stage the '
                        'same basis config (or one mask_head dict)'
                    )
        super().init_mask_head(mask_roi_extractor, mask_head)
        for head in self.mask_head[1:]:
            head.basis = None

    def blend_stages(self) -> List[Tuple[str, nn.Module, ConfigType]]:
        """``[(f'[{i}]', mask_head[i], train_cfg[i] or None)]``."""
        return [
            (
                f'[{i}]',
                head,
                None if self.train_cfg is None else self.train_cfg[i],
            )
            for i, head in enumerate(self.mask_head)
        ]

    def _mask_forward(
        self, stage: int, x: Tuple[Tensor], rois: Tensor
    ) -> dict:
        """Stage ``stage``'s mask forward on ``rois [n, 5]``: its RoI
        features and attentions, blended with the batch's bases.

        Returns:
            dict: ``mask_preds [n, 1, R, R]`` (logits).
        """
        extractor = self.mask_roi_extractor[stage]
        mask_feats = extractor(x[: extractor.num_inputs], rois)
        mask_preds = self.mask_head[stage](
            mask_feats, self.with_bases(x).bases, rois
        )
        return dict(mask_preds=mask_preds)
