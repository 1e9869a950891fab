"""mmdet's dense detection heads with BlendMask's top layer.

Each ``Blend<Head>`` takes exactly the arguments of mmdet's ``<Head>`` (plus
``attn_channels``, filled by the :class:`~mmblend.models.BlendMask`
detector) and keeps its targets, losses, post-processing and score
convention; :class:`~mmblend.models.dense_heads.blend_host_mixin.
BlendHostMixin` adds the top layer and the positives for the mask branch.
"""
import torch
from mmdet.models.dense_heads import ATSSHead, FCOSHead, GFLHead, RetinaHead
from mmdet.registry import MODELS
from torch import Tensor

from .blend_host_mixin import (
    AnchorPositivesMixin,
    BlendHostMixin,
    PointPositivesMixin,
    centerness,
)


@MODELS.register_module()
class BlendATSSHead(AnchorPositivesMixin, BlendHostMixin, ATSSHead):
    """ATSS + top layer. Scores: ``sigmoid(cls)`` thresholded at
    ``score_thr``, then multiplied by ``sigmoid(centerness)`` (mmdet's ATSS).
    Mask-loss weights: ATSS's centerness targets (anchor centre vs GT)."""

    box_tower_consumer = 'atss_reg'

    def mask_loss_weights(self, sampling_result) -> Tensor:
        priors = sampling_result.pos_priors
        gts = sampling_result.pos_gt_bboxes
        cx = (priors[:, 0] + priors[:, 2]) / 2
        cy = (priors[:, 1] + priors[:, 3]) / 2
        return centerness(torch.stack(
            [cx - gts[:, 0], cy - gts[:, 1], gts[:, 2] - cx, gts[:, 3] - cy],
            dim=1))


@MODELS.register_module()
class BlendGFLHead(AnchorPositivesMixin, BlendHostMixin, GFLHead):
    """GFL + top layer. Scores: GFL's joint classification-quality scores
    (``sigmoid(cls)``, trained against IoU). Mask-loss weights: uniform (GFL
    has no centerness)."""

    box_tower_consumer = 'gfl_reg'


@MODELS.register_module()
class BlendRetinaHead(AnchorPositivesMixin, BlendHostMixin, RetinaHead):
    """RetinaNet + top layer; the 9 anchors of a location share its
    attention. Scores: plain ``sigmoid(cls)``. Mask-loss weights: uniform."""

    box_tower_consumer = 'retina_reg'


@MODELS.register_module()
class BlendFCOSHead(PointPositivesMixin, BlendHostMixin, FCOSHead):
    """mmdet's FCOS + top layer, with mmdet's conventions: ``sigmoid(cls)``
    thresholded at ``score_thr``, reported score ``sigmoid(cls) *
    sigmoid(ctr)``. (:class:`~mmblend.models.BlendMaskHead` is the
    AdelaiDet-faithful FCOS host.) Mask-loss weights: centerness targets."""

    box_tower_consumer = 'conv_reg'

