"""mmdet's dense detection heads with BlendMask's top layer.

Each ``Blend<Head>`` takes exactly the arguments of mmdet's ``<Head>`` (plus
``attn_channels``, filled by the :class:`~mmblend.models.BlendMask`
detector) and keeps its targets, losses, post-processing and score
convention; :class:`~mmblend.models.dense_heads.blend_host_mixin.
BlendHostMixin` adds the top layer, a positives source (the host's sampler,
or FCOS's point targets) records the positives. A new host is its class
line and the name of its box regression conv (``box_tower_consumer``).
"""

from typing import Tuple

import torch
from mmdet.models.dense_heads import (
    ATSSHead,
    DDODHead,
    FCOSHead,
    GFLHead,
    NASFCOSHead,
    PISARetinaHead,
    RetinaHead,
    RetinaSepBNHead,
    RTMDetHead,
    RTMDetSepBNHead,
    TOODHead,
    VFNetHead,
    YOLOFHead,
    YOLOXHead,
)
from mmdet.registry import MODELS
from mmengine.logging import MessageHub
from torch import Tensor

from .blend_host_mixin import (
    BlendHostMixin,
    PointPositivesMixin,
    SamplerPositivesMixin,
    centerness,
)
from .selection import SelectionRecord


@MODELS.register_module()
class BlendATSSHead(SamplerPositivesMixin, BlendHostMixin, ATSSHead):
    """ATSS + top layer. Scores: ``sigmoid(cls)`` thresholded at
    ``score_thr``, then multiplied by ``sigmoid(centerness)`` (mmdet's ATSS).
    Mask-loss weights: ATSS's centerness targets (anchor centre vs GT)."""

    box_tower_consumer = 'atss_reg'

    def mask_loss_weights(self, sampling_result) -> Tensor:
        priors = sampling_result.pos_priors
        gts = sampling_result.pos_gt_bboxes
        cx = (priors[:, 0] + priors[:, 2]) / 2
        cy = (priors[:, 1] + priors[:, 3]) / 2
        return centerness(
            torch.stack(
                [
                    cx - gts[:, 0],
                    cy - gts[:, 1],
                    gts[:, 2] - cx,
                    gts[:, 3] - cy,
                ],
                dim=1,
            )
        )


@MODELS.register_module()
class BlendGFLHead(SamplerPositivesMixin, BlendHostMixin, GFLHead):
    """GFL + top layer. Scores: GFL's joint classification-quality scores
    (``sigmoid(cls)``, trained against IoU). Mask-loss weights: uniform (GFL
    has no centerness)."""

    box_tower_consumer = 'gfl_reg'


@MODELS.register_module()
class BlendRetinaHead(SamplerPositivesMixin, BlendHostMixin, RetinaHead):
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


@MODELS.register_module()
class BlendRTMDetHead(SamplerPositivesMixin, BlendHostMixin, RTMDetHead):
    """RTMDet (shared convs) + top layer. Positives: its
    ``DynamicSoftLabelAssigner`` through its ``PseudoSampler``; scores:
    ``sigmoid(cls)`` (times the objectness with ``with_objectness``);
    mask-loss weights: uniform."""

    box_tower_consumer = 'rtm_reg'


@MODELS.register_module()
class BlendRTMDetSepBNHead(
    SamplerPositivesMixin, BlendHostMixin, RTMDetSepBNHead
):
    """RTMDet's head of every mmdet RTMDet config (conv weights shared
    across levels, BN per level, one ``rtm_reg`` conv per level) + one top
    layer shared by the levels; as :class:`BlendRTMDetHead` otherwise."""

    box_tower_consumer = 'rtm_reg'


@MODELS.register_module()
class BlendTOODHead(SamplerPositivesMixin, BlendHostMixin, TOODHead):
    """TOOD + top layer on the box tower after the task decomposition (the
    input of ``tood_reg``). Positives: ATSS's for the first
    ``train_cfg.initial_epoch`` epochs, then the ``TaskAlignedAssigner``'s
    (both through the host's sampler); scores: its forward's probabilities,
    thresholded as they are; mask-loss weights: uniform.

    TOOD switches assigners by the runner's epoch (the message hub's
    ``epoch``), which an iteration-based loop never advances (mmengine's
    ``IterBasedTrainLoop`` counts one epoch): train it with an epoch-based
    loop longer than ``initial_epoch`` (mmdet's TOOD configs do); otherwise
    the first loss raises an error naming ``train_cfg``.
    """

    box_tower_consumer = 'tood_reg'

    def loss_by_feat(self, *args, **kwargs) -> dict:
        hub = MessageHub.get_current_instance()
        max_epochs = hub.get_info('max_epochs')
        if hub.get_info('epoch') is None:
            problem = "no runner has set the epoch (the message hub's 'epoch')"
        elif max_epochs is not None and max_epochs <= self.initial_epoch:
            problem = (
                f'the runner trains max_epochs={max_epochs} '
                '(IterBasedTrainLoop counts one epoch), so the switch '
                'never happens'
            )
        else:
            return super().loss_by_feat(*args, **kwargs)
        raise RuntimeError(
            "BlendTOODHead (like mmdet's TOODHead) switches from ATSS to "
            'task-aligned assignment after model.train_cfg.initial_epoch='
            f'{self.initial_epoch} epochs of the runner, but {problem}: train '
            "with train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=...) "
            "longer than initial_epoch, as mmdet's TOOD configs do"
        )


@MODELS.register_module()
class BlendYOLOXHead(SamplerPositivesMixin, BlendHostMixin, YOLOXHead):
    """YOLOX + top layer on each level's regression tower (the input of
    ``multi_level_conv_reg[l]``). Positives: SimOTA's, through its
    ``PseudoSampler`` (all priors, no mapping); scores: ``sigmoid(obj) *
    max sigmoid(cls)``; mask-loss weights: uniform. YOLOX's training hooks
    (mode switch, sync norm, EMA) act on the host unchanged.

    YOLOX selects its candidates inside ``predict_by_feat`` (a score
    threshold over all levels, no function to record), so
    :meth:`selected_prior_inds` computes that selection from the same
    tensors with the same operations; the mixin checks it against the
    labels the host post-processes.
    """

    box_tower_consumer = 'multi_level_conv_reg'

    def selected_prior_inds(
        self, record: SelectionRecord, img_id: int
    ) -> Tuple[Tensor, Tensor]:
        cls_scores, _, objectnesses = record.outs
        num_imgs = cls_scores[0].size(0)
        flat_cls = torch.cat(
            [
                c.permute(0, 2, 3, 1).reshape(
                    num_imgs, -1, self.cls_out_channels
                )
                for c in cls_scores
            ],
            dim=1,
        ).sigmoid()
        flat_obj = torch.cat(
            [
                o.permute(0, 2, 3, 1).reshape(num_imgs, -1)
                for o in objectnesses
            ],
            dim=1,
        ).sigmoid()
        max_scores, labels = torch.max(flat_cls[img_id], 1)
        valid = flat_obj[img_id] * max_scores >= record.cfg.score_thr
        return valid.nonzero()[:, 0], labels[valid]


@MODELS.register_module()
class BlendVFNetHead(SamplerPositivesMixin, BlendHostMixin, VFNetHead):
    """VarifocalNet + top layer on the refined box tower (the input of
    ``vfnet_reg_refine``, after the star-shaped deformable conv), which
    predicts the final boxes. Positives: its ATSS assignment
    (``use_atss=True``, as in all of mmdet's VFNet configs; its FCOS targets
    keep no matched GT and are refused); scores: the IoU-aware
    classification scores; mask-loss weights: uniform."""

    box_tower_consumer = 'vfnet_reg_refine'

    def __init__(self, *args, use_atss: bool = True, **kwargs) -> None:
        if not use_atss:
            raise ValueError(
                'BlendVFNetHead needs model.bbox_head.use_atss=True: with '
                "use_atss=False VFNet uses FCOS's targets, which keep no "
                'matched GT per positive for the mask loss'
            )
        super().__init__(*args, use_atss=use_atss, **kwargs)


@MODELS.register_module()
class BlendDDODHead(SamplerPositivesMixin, BlendHostMixin, DDODHead):
    """DDOD + top layer on its regression tower (the input of
    ``atss_reg``). DDOD assigns twice per image, for classification
    (``assigner``) and for regression (``reg_assigner``), both through its
    sampler; the positives of the mask loss are the regression ones (the
    later sampling, which the record keeps), the branch the top layer sits
    on. Scores: ``sigmoid(cls)`` times ``sigmoid(iou)``; mask-loss weights:
    uniform."""

    box_tower_consumer = 'atss_reg'


@MODELS.register_module()
class BlendYOLOFHead(SamplerPositivesMixin, BlendHostMixin, YOLOFHead):
    """YOLOF + top layer on its box subnet (the input of ``bbox_pred``);
    its 5 anchors per location share the attention. Positives: its
    ``UniformAssigner``'s; scores: YOLOF's objectness-normalised ones;
    mask-loss weights: uniform. YOLOF's one stride-32 level cannot feed a
    stride-8 basis module: read the backbone's C3 and C5 instead
    (``feat_source='backbone'``, backbone ``out_indices=(1, 3)``; its
    DilatedEncoder takes the last)."""

    box_tower_consumer = 'bbox_pred'


@MODELS.register_module()
class BlendPISARetinaHead(
    SamplerPositivesMixin, BlendHostMixin, PISARetinaHead
):
    """RetinaNet with PISA's loss re-weighting (ISR, CARL) + top layer; as
    :class:`BlendRetinaHead` (PISA re-weights the sampler's positives, it
    does not change them)."""

    box_tower_consumer = 'retina_reg'


@MODELS.register_module()
class BlendRetinaSepBNHead(
    SamplerPositivesMixin, BlendHostMixin, RetinaSepBNHead
):
    """RetinaNet with convs shared across levels and BN per level (mmdet's
    NAS-FPN, FPG and EfficientNet configs) + top layer; as
    :class:`BlendRetinaHead`. The host initialises its own convs only
    (``init_cfg`` must be None), so the top layer keeps PyTorch's default
    initialisation."""

    box_tower_consumer = 'retina_reg'


@MODELS.register_module()
class BlendNASFCOSHead(PointPositivesMixin, BlendHostMixin, NASFCOSHead):
    """NAS-FCOS's searched head + top layer; as :class:`BlendFCOSHead`
    (its targets, scores and post-processing are FCOS's)."""

    box_tower_consumer = 'conv_reg'
