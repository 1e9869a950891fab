"""What the blender RoI heads share: their checks, the bases forward (once
per batch) and the semantic loss."""

from typing import List, Optional, Sequence, Tuple

import torch.nn as nn
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, InstanceList, MultiConfig
from torch import Tensor
from torch.nn.modules.utils import _pair

from .mask_heads.blend_roi_mask_head import BlendRoIMaskHead


class FeaturesWithBases(tuple):
    """The neck levels an RoI head receives (the tuple mmdet's RoI heads
    take and slice) with the batch's bases attached, so that every mask
    forward of one batch (all cascade stages) blends the same bases.

    Attributes:
        bases (Tensor): ``[B, K, H/s, W/s]``.
        sem_logits (Tensor | None): ``[B, C+1, H/8, W/8]`` in training with a
            semantic head, else None.
    """

    def __new__(
        cls,
        levels: Sequence[Tensor],
        bases: Tensor,
        sem_logits: Optional[Tensor],
    ):
        feats = super().__new__(cls, levels)
        feats.bases, feats.sem_logits = bases, sem_logits
        return feats


class BlendRoIHeadMixin:
    """Turns an mmdet RoI head with :class:`BlendRoIMaskHead` mask heads
    into a blender RoI head (placed before the host in the bases:
    ``class BlendRoIHead(BlendRoIHeadMixin, StandardRoIHead)``).

    * Building: the host's ``init_mask_head``, then the checks below.
    * ``loss`` / ``predict_mask`` / ``forward``: the host's, on the neck
      features with the bases attached (:meth:`with_bases`, one basis
      forward per batch whatever the number of mask forwards); ``loss`` adds
      the basis module's semantic loss once as ``loss_sem`` (not per stage,
      not weighted by a stage weight).
    * The host class implements :meth:`blend_stages` and a ``_mask_forward``
      that calls ``mask_head(mask_feats, self.with_bases(x).bases, rois)``.

    The basis module belongs to the first mask head (:attr:`basis_head`).

    Checked when built (``ValueError``/``TypeError`` naming the keys):

    * every mask head is a :class:`BlendRoIMaskHead`;
    * each stage's ``train_cfg.rcnn.mask_size`` (the side of its mask
      targets) equals its blender's R, and all stages have one R (the
      cascade's test-time mask is their average);
    * the basis reads the neck (``feat_source='neck'``): an RoI head never
      sees the backbone's features;
    * the semantic head's input level has stride ``sem_stride`` (strides of
      the levels from the mask RoI extractor's ``featmap_strides``; Mask
      R-CNN's FPN starts at P2, so P3 is ``sem_in_index=1``).

    At the first forward, the bases' stride is checked against the basis
    module's ``out_stride`` (a wrong ``in_indices`` for an FPN starting at
    P2 fails there with the levels' strides in the message).
    """

    def init_mask_head(
        self, mask_roi_extractor: Optional[MultiConfig], mask_head: MultiConfig
    ) -> None:
        """The host's mask RoI extractor(s) and mask head(s), checked."""
        super().init_mask_head(mask_roi_extractor, mask_head)
        self._check_mask_branch()

    def blend_stages(self) -> List[Tuple[str, nn.Module, ConfigType]]:
        """``(config suffix, mask head, rcnn train cfg or None)`` of each
        stage, e.g. ``('[1]', self.mask_head[1], self.train_cfg[1])``."""
        raise NotImplementedError

    @property
    def basis_head(self) -> BlendRoIMaskHead:
        """The mask head that owns the basis module (the first stage's)."""
        return self.blend_stages()[0][1]

    def _check_mask_branch(self) -> None:
        host = next(
            c for c in type(self).__mro__ if c.__module__.startswith('mmdet.')
        ).__name__
        R0 = None
        for suffix, head, train_cfg in self.blend_stages():
            if not isinstance(head, BlendRoIMaskHead):
                raise TypeError(
                    f'{type(self).__name__} needs roi_head.mask_head=dict('
                    "type='BlendRoIMaskHead', basis=..., blender=...), got "
                    f'{type(head).__name__}; for FCNMaskHead use {host}'
                )
            R = head.mask_size
            R0 = R if R0 is None else R0
            if R != R0:
                raise ValueError(
                    f'roi_head.mask_head{suffix}.blender.bottom_resolution='
                    f'{R} differs from the first stage\'s R={R0}: the '
                    "stages' masks are averaged at test time, give them one "
                    'R'
                )
            mask_size = (
                None if train_cfg is None else train_cfg.get('mask_size')
            )
            if mask_size is not None and tuple(_pair(mask_size)) != (R, R):
                raise ValueError(
                    f'train_cfg.rcnn{suffix}.mask_size={mask_size} (the side '
                    'of the mask targets) differs from the blender\'s '
                    f'bottom_resolution R={R} (the side of the predicted '
                    f'masks): set model.train_cfg.rcnn{suffix}.mask_size={R} '
                    'or roi_head.mask_head.blender.bottom_resolution='
                    f'{mask_size}'
                )
        basis = self.basis_head.basis
        if basis.feat_source != 'neck':
            raise ValueError(
                f"roi_head.mask_head.basis.feat_source={basis.feat_source!r}"
                ' is not supported in a two-stage detector: the RoI head '
                'receives only the neck (FPN) outputs. Use '
                "feat_source='neck' with in_indices into the FPN outputs "
                "(Mask R-CNN's FPN: P2..P6, so P3+P5 are in_indices=(1, 3))"
            )
        if basis.num_classes is not None:
            strides = self.neck_strides(max(basis.sem_in_index + 1, 8))
            if strides[basis.sem_in_index] != basis.sem_stride:
                fix = (
                    f'sem_in_index={strides.index(basis.sem_stride)}'
                    if basis.sem_stride in strides
                    else 'sem_in_index to a level of stride sem_stride'
                )
                raise ValueError(
                    'roi_head.mask_head.basis.sem_in_index='
                    f'{basis.sem_in_index} reads the neck level of stride '
                    f'{strides[basis.sem_in_index]} (neck strides '
                    f'{tuple(strides[:5])}..., from mask_roi_extractor.'
                    'featmap_strides), but the semantic head is declared at '
                    f"sem_stride={basis.sem_stride}. Mask R-CNN's FPN starts "
                    f'at P2, one level below FCOS\'s: set {fix}'
                )

    def neck_strides(self, num_levels: int) -> List[int]:
        """Strides of the first ``num_levels`` neck outputs: those of the
        (first) mask RoI extractor's ``featmap_strides``, then each extra FPN
        level halving the resolution (P6, P7)."""
        extractor = self.mask_roi_extractor
        if isinstance(extractor, nn.ModuleList):
            extractor = extractor[0]
        strides = list(extractor.featmap_strides)[:num_levels]
        while len(strides) < num_levels:
            strides.append(strides[-1] * 2)
        return strides

    def input_shape(self, x: Sequence[Tensor]) -> Tuple[int, int]:
        """``(H, W)`` of the padded batch input, from the first neck level
        and its stride."""
        s = self.neck_strides(1)[0]
        return x[0].size(2) * s, x[0].size(3) * s

    def with_bases(self, x: Sequence[Tensor]) -> FeaturesWithBases:
        """``x`` with the batch's bases (computed here unless ``x`` has
        them already)."""
        if isinstance(x, FeaturesWithBases):
            return x
        bases, sem_logits = self.basis_head.forward_bases(
            x, self.neck_strides(len(x))
        )
        return FeaturesWithBases(x, bases, sem_logits)

    def loss(
        self,
        x: Tuple[Tensor],
        rpn_results_list: InstanceList,
        batch_data_samples: SampleList,
    ) -> dict:
        """The host's losses, plus the basis module's semantic loss
        ``loss_sem`` (with a semantic head)."""
        x = self.with_bases(x)
        losses = super().loss(x, rpn_results_list, batch_data_samples)
        if x.sem_logits is not None:
            losses['loss_sem'] = self.basis_head.loss_semantic(
                x.sem_logits,
                [s.gt_instances for s in batch_data_samples],
                self.input_shape(x),
            )
        return losses

    def predict_mask(
        self,
        x: Tuple[Tensor],
        batch_img_metas: List[dict],
        results_list: InstanceList,
        rescale: bool = False,
    ) -> InstanceList:
        """The host's mask prediction; the bases are computed only when
        there are detections to blend."""
        if any(len(results) for results in results_list):
            x = self.with_bases(x)
        return super().predict_mask(x, batch_img_metas, results_list, rescale)

    def forward(
        self,
        x: Tuple[Tensor],
        rpn_results_list: InstanceList,
        batch_data_samples: Optional[SampleList] = None,
    ) -> tuple:
        """The host's ``forward`` (``mode='tensor'``), mask logits blended
        from bases computed once."""
        return super().forward(
            self.with_bases(x), rpn_results_list, batch_data_samples
        )
