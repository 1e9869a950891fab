"""BlendMask's mask branch on mmdet's query-based detectors: DINO and
Deformable DETR plus a ``mask_head``, everything else of the host unchanged.
"""

import copy

from mmdet.models.detectors import DINO, DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType
from torch import Tensor

from .blendmask import BlendMask, blend_host_config, check_pretrained


class BlendQueryDetectorMixin:
    """Adds a :class:`~mmblend.models.BlendMaskMaskHead` to an mmdet
    DETR-style detector whose ``bbox_head`` is a ``Blend*Head`` of
    :mod:`mmblend.models.dense_heads.blend_dino_head`.

    Wiring (as mmdet's ``SingleStageInstanceSegmentor``): the transformer
    and the box head run as in the host; in training the box head's
    positives (matched queries with their GT and attentions) go to the mask
    head's loss, at inference its detections (boxes at the network input
    scale, with the attentions of their queries) go to the blender. The
    basis module reads the neck's levels (``ChannelMapper``) by
    ``in_indices``. The box head's ``attn_channels`` comes from the
    blender.

    ``_forward`` (mode='tensor', eval mode, no GT) returns the host's head
    outputs, the last decoder layer's attentions ``[B, Q, K*M*M]`` and the
    mask head's ``(bases, sem_logits)``.
    """

    def __init__(
        self,
        *args,
        bbox_head: ConfigType,
        mask_head: ConfigType,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        **kwargs,
    ) -> None:
        if (test_cfg or {}).get('clip_after_mask', False):
            raise ValueError(
                'model.test_cfg.clip_after_mask=True is not available on a '
                'DETR-style host: its post-processing clips the boxes to the '
                'image before the blender sees them; remove the key'
            )
        mask_head = MODELS.build(
            dict(
                copy.deepcopy(mask_head),
                train_cfg=copy.deepcopy(train_cfg),
                test_cfg=copy.deepcopy(test_cfg),
            )
        )
        super().__init__(
            *args,
            bbox_head=blend_host_config(bbox_head, mask_head),
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            **kwargs,
        )
        self.mask_head = mask_head

    # the neck's levels, with the backbone's attached (feat_source)
    extract_feat = BlendMask.extract_feat

    def init_weights(self) -> None:
        """The host's initialisation, failing clearly when pretrained
        weights are missing (see :func:`check_pretrained`)."""
        check_pretrained(self.backbone)
        super().init_weights()

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> dict:
        """The host's losses plus ``loss_mask`` (and ``loss_sem``)."""
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        losses = self.bbox_head.loss(
            **head_inputs, batch_data_samples=batch_data_samples
        )
        mask_losses = self.mask_head.loss(
            img_feats,
            batch_data_samples,
            positive_infos=self.bbox_head.get_positive_infos(),
        )
        clash = set(losses) & set(mask_losses)
        if clash:
            raise KeyError(
                f'mask head losses {sorted(clash)} would overwrite the host\'s'
            )
        losses.update(mask_losses)
        return losses

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: bool = True,
    ) -> SampleList:
        """The host's detections (``bboxes``, ``scores``, ``labels``) with
        ``masks [D, H, W]`` (bool, the original image size if ``rescale``).
        """
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        # boxes at the input scale: the mask head rescales boxes and masks
        results_list = self.bbox_head.predict(
            **head_inputs, rescale=False, batch_data_samples=batch_data_samples
        )
        results_list = self.mask_head.predict(
            img_feats,
            batch_data_samples,
            rescale=rescale,
            results_list=results_list,
        )
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(
        self, batch_inputs: Tensor, batch_data_samples: OptSampleList = None
    ) -> tuple:
        """``((all_layers_cls_scores, all_layers_bbox_preds), attns,
        (bases, sem_logits))`` without GT (eval mode), attentions of the
        last decoder layer ``[B, Q, K*M*M]``."""
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        hidden_states = head_inputs['hidden_states']
        outs = self.bbox_head.forward(hidden_states, head_inputs['references'])
        return (
            outs,
            self.bbox_head.attentions(hidden_states[-1]),
            self.mask_head.forward(img_feats),
        )


@MODELS.register_module()
class BlendDINO(BlendQueryDetectorMixin, DINO):
    """mmdet's :class:`~mmdet.models.detectors.DINO` + BlendMask's mask
    branch: ``bbox_head=dict(type='BlendDINOHead')``, ``mask_head=dict(
    type='BlendMaskMaskHead', basis=..., blender=...)``; DINO's two-stage
    encoder proposals, contrastive denoising, look-forward-twice refinement,
    losses and schedules unchanged. See :class:`BlendQueryDetectorMixin`.
    """


@MODELS.register_module()
class BlendDeformableDETR(BlendQueryDetectorMixin, DeformableDETR):
    """mmdet's :class:`~mmdet.models.detectors.DeformableDETR` (plain, box
    refinement or two-stage) + BlendMask's mask branch, with
    ``bbox_head=dict(type='BlendDeformableDETRHead')``. See
    :class:`BlendQueryDetectorMixin`."""
