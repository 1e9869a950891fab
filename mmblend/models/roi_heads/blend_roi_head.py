"""StandardRoIHead with the blender mask head (paper §4.3, two-stage)."""
from typing import List, Optional, Sequence, Tuple

from mmdet.models.roi_heads.standard_roi_head import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, InstanceList
from torch import Tensor
from torch.nn.modules.utils import _pair

from .mask_heads.blend_roi_mask_head import BlendRoIMaskHead


@MODELS.register_module()
class BlendRoIHead(StandardRoIHead):
    """:class:`StandardRoIHead` whose mask head is
    :class:`BlendRoIMaskHead`: same arguments, boxes, sampling, mask targets
    and pasting; the mask forward also runs the basis module on the neck
    features ``x`` the RoI head receives, and training adds the basis
    module's semantic loss (``loss_sem``) beside ``loss_mask``.

    Checked when built (``ValueError`` naming the keys to change):

    * ``mask_roi_extractor`` is given (``share_roi_extractor=True`` is not
      supported: StandardRoIHead's shared path hands the mask head the box
      features of the sampled RoIs without the RoIs, which the blender needs
      to crop the bases);
    * ``mask_head`` is a :class:`BlendRoIMaskHead`;
    * its basis reads the neck (``feat_source='neck'``): the RoI head never
      sees the backbone's features;
    * ``train_cfg.mask_size`` (mmdet's ``rcnn.mask_size``, the side of the
      mask targets) equals the blender's R;
    * the semantic head's input level has stride ``sem_stride`` (strides of
      the levels from ``mask_roi_extractor.featmap_strides``; Mask R-CNN's
      FPN starts at P2, so P3 is ``sem_in_index=1``).

    At the first forward, the bases' stride is checked against the basis
    module's ``out_stride`` (a wrong ``in_indices`` for an FPN starting at
    P2 fails there with the levels' strides in the message).
    """

    def init_mask_head(self, mask_roi_extractor: Optional[ConfigType],
                       mask_head: ConfigType) -> None:
        """Build the mask RoI extractor and :class:`BlendRoIMaskHead`, then
        check them against the RoI head's configuration."""
        if mask_roi_extractor is None:
            raise ValueError(
                'BlendRoIHead needs roi_head.mask_roi_extractor (e.g. '
                "mmdet's SingleRoIExtractor with RoIAlign output_size=14); "
                'share_roi_extractor=True is not supported: that path gives '
                'the mask head the box features of the sampled RoIs but not '
                'the RoIs, which the blender needs to crop the bases')
        super().init_mask_head(mask_roi_extractor, mask_head)
        if not isinstance(self.mask_head, BlendRoIMaskHead):
            raise TypeError(
                'BlendRoIHead needs roi_head.mask_head=dict(type='
                f"'BlendRoIMaskHead', basis=..., blender=...), got "
                f'{type(self.mask_head).__name__}; for FCNMaskHead use '
                'StandardRoIHead')
        self._check_mask_branch()

    def _check_mask_branch(self) -> None:
        basis = self.mask_head.basis
        if basis.feat_source != 'neck':
            raise ValueError(
                f"roi_head.mask_head.basis.feat_source={basis.feat_source!r}"
                ' is not supported in a two-stage detector: the RoI head '
                'receives only the neck (FPN) outputs. Use '
                "feat_source='neck' with in_indices into the FPN outputs "
                "(Mask R-CNN's FPN: P2..P6, so P3+P5 are in_indices=(1, 3))")
        R = self.mask_head.mask_size
        mask_size = None if self.train_cfg is None \
            else self.train_cfg.get('mask_size')
        if mask_size is not None and tuple(_pair(mask_size)) != (R, R):
            raise ValueError(
                f'train_cfg.rcnn.mask_size={mask_size} (the side of the mask '
                'targets) differs from the blender\'s bottom_resolution '
                f'R={R} (the side of the predicted masks): set '
                f'model.train_cfg.rcnn.mask_size={R} or '
                f'roi_head.mask_head.blender.bottom_resolution={mask_size}')
        if basis.num_classes is not None:
            strides = self.neck_strides(max(basis.sem_in_index + 1, 8))
            if strides[basis.sem_in_index] != basis.sem_stride:
                fix = (f'sem_in_index={strides.index(basis.sem_stride)}'
                       if basis.sem_stride in strides else
                       'sem_in_index to a level of stride sem_stride')
                raise ValueError(
                    'roi_head.mask_head.basis.sem_in_index='
                    f'{basis.sem_in_index} reads the neck level of stride '
                    f'{strides[basis.sem_in_index]} (neck strides '
                    f'{tuple(strides[:5])}..., from mask_roi_extractor.'
                    'featmap_strides), but the semantic head is declared at '
                    f"sem_stride={basis.sem_stride}. Mask R-CNN's FPN starts "
                    f'at P2, one level below FCOS\'s: set {fix}')

    def neck_strides(self, num_levels: int) -> List[int]:
        """Strides of the first ``num_levels`` neck outputs: those of
        ``mask_roi_extractor.featmap_strides``, then each extra FPN level
        halving the resolution (P6, P7)."""
        strides = list(self.mask_roi_extractor.featmap_strides)[:num_levels]
        while len(strides) < num_levels:
            strides.append(strides[-1] * 2)
        return strides

    def _mask_forward(self,
                      x: Tuple[Tensor],
                      rois: Optional[Tensor] = None,
                      pos_inds: Optional[Tensor] = None,
                      bbox_feats: Optional[Tensor] = None) -> dict:
        """Mask forward on ``rois [n, 5]``: bases from the neck features
        ``x``, RoI features, blended masks.

        Returns:
            dict: ``mask_preds [n, 1, R, R]`` (logits), ``mask_feats [n, C,
            S, S]``, ``bases [B, K, H/s, W/s]``, ``sem_logits`` (``[B, C+1,
            H/8, W/8]`` in training with a semantic head, else None).
        """
        if rois is None:
            raise ValueError('BlendRoIHead._mask_forward needs the RoIs '
                             '(the shared-extractor path is not supported)')
        mask_feats = self.mask_roi_extractor(
            x[:self.mask_roi_extractor.num_inputs], rois)
        if self.with_shared_head:
            mask_feats = self.shared_head(mask_feats)
        bases, sem_logits = self.mask_head.forward_bases(
            x, self.neck_strides(len(x)))
        mask_preds = self.mask_head(mask_feats, bases, rois)
        return dict(mask_preds=mask_preds, mask_feats=mask_feats,
                    bases=bases, sem_logits=sem_logits)

    def mask_loss(self, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult], bbox_feats: Tensor,
                  batch_gt_instances: InstanceList) -> dict:
        """StandardRoIHead's mask loss on the positive RoIs, plus the
        semantic loss: ``loss_mask`` holds ``{'loss_mask', 'loss_sem'}``
        (the latter only with a semantic head)."""
        mask_results = super().mask_loss(x, sampling_results, bbox_feats,
                                         batch_gt_instances)
        sem_logits = mask_results['sem_logits']
        if sem_logits is not None:
            mask_results['loss_mask']['loss_sem'] = \
                self.mask_head.loss_semantic(sem_logits, batch_gt_instances,
                                             self.input_shape(x))
        return mask_results

    def input_shape(self, x: Sequence[Tensor]) -> Tuple[int, int]:
        """``(H, W)`` of the padded batch input, from the first neck level
        and its stride."""
        s = self.mask_roi_extractor.featmap_strides[0]
        return x[0].size(2) * s, x[0].size(3) * s
