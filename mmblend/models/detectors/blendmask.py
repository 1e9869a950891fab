"""The BlendMask detector."""
import copy
import importlib.util
import os.path as osp
from typing import Sequence

from mmdet.models.detectors.single_stage_instance_seg import (
    SingleStageInstanceSegmentor,
)
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor, nn


class NeckFeatures(tuple):
    """The neck's levels (the tuple mmdet's heads take) with the backbone's
    outputs attached as ``backbone``, for a basis module with
    ``feat_source='backbone'`` (Table 4's C3+C5 bases)."""

    def __new__(cls, levels: Sequence[Tensor], backbone: Sequence[Tensor]):
        feats = super().__new__(cls, levels)
        feats.backbone = tuple(backbone)
        return feats


@MODELS.register_module()
class BlendMask(SingleStageInstanceSegmentor):
    """BlendMask (Chen et al., CVPR 2020): a box head + bases + blender.

    ``bbox_head`` is a host with BlendMask's top layer:
    :class:`~mmblend.models.BlendMaskHead` (the paper's FCOS) or any
    ``Blend*Head`` (``BlendATSSHead``, ``BlendGFLHead``, ...); its
    ``attn_channels`` is taken from the mask head's blender (set it only to
    double-check). ``mask_head`` is a
    :class:`~mmblend.models.BlendMaskMaskHead`. Training and inference are
    mmdet's :class:`SingleStageInstanceSegmentor` wiring: box-head losses,
    its positives to the mask head; detections to the blender.

    ``_forward`` (mode='tensor') runs on images alone and returns the raw
    head outputs and the bases, e.g. for FLOPs counting or export.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: OptConfigType,
                 bbox_head: ConfigType,
                 mask_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=None,
            mask_head=copy.deepcopy(mask_head),
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.bbox_head = MODELS.build(
            dict(blend_host_config(bbox_head, self.mask_head),
                 train_cfg=copy.deepcopy(train_cfg),
                 test_cfg=copy.deepcopy(test_cfg)))
        self._apply_clip_order(self.test_cfg or {})

    def _apply_clip_order(self, test_cfg) -> None:
        """``test_cfg.clip_after_mask=True`` (AdelaiDet's order) makes the
        host decode boxes without clipping them (its ``bbox_coder.
        clip_border``): NMS, the top-k cut and the blender then see
        unclipped boxes, which the mask head clips afterwards
        (:func:`~mmblend.models.dense_heads.blendmask_mask_head.
        postprocess_masks`)."""
        coder = getattr(self.bbox_head, 'bbox_coder', None)
        if not hasattr(coder, 'clip_border'):
            return
        if test_cfg.get('clip_after_mask', False):
            coder.clip_border = False
        elif not coder.clip_border:
            raise ValueError(
                'model.bbox_head.bbox_coder.clip_border=False leaves the '
                'boxes unclipped, but model.test_cfg.clip_after_mask is not '
                'set, so no one would clip them: set '
                'model.test_cfg.clip_after_mask=True (and leave the coder '
                'alone)')

    def init_weights(self) -> None:
        """Initialise, failing clearly when pretrained weights are missing.

        mmengine would otherwise stop deep inside its loader (or with a bare
        ``No module named 'torchvision'``); training from scratch by accident
        must never happen silently.
        """
        check_pretrained(self.backbone)
        super().init_weights()

    def extract_feat(self, batch_inputs: Tensor) -> NeckFeatures:
        """The neck's levels, with the backbone's attached (see
        :class:`NeckFeatures`)."""
        feats = self.backbone(batch_inputs)
        levels = self.neck(feats) if self.with_neck else feats
        return NeckFeatures(levels, backbone=feats)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None,
                 **kwargs) -> tuple:
        """``(bbox_head outputs, (bases, sem_logits))`` without GT."""
        x = self.extract_feat(batch_inputs)
        return self.bbox_head.forward(x), self.mask_head.forward(x)


def blend_host_config(bbox_head: ConfigType, mask_head: nn.Module) -> dict:
    """The config of a host head feeding ``mask_head`` (a built
    :class:`~mmblend.models.BlendMaskMaskHead`): a copy of ``bbox_head``
    with ``attn_channels`` set to the blender's ``K*M*M``.

    Raises ``ValueError`` if ``bbox_head`` sets another ``attn_channels`` or
    if the semantic head's class count differs from the host's
    ``num_classes``. Used by every detector with this mask branch
    (:class:`BlendMask`, :class:`~mmblend.models.BlendDINO`, ...).
    """
    blender = mask_head.blender
    given = bbox_head.get('attn_channels')
    if given is not None and given != blender.attn_channels:
        raise ValueError(
            f'bbox_head.attn_channels={given} but the blender needs '
            f'K*M*M={blender.attn_channels} (K={blender.num_bases}, '
            f'M={blender.attn_size}, merge={blender.merge_type}); '
            'remove attn_channels from bbox_head to derive it')
    sem_classes = mask_head.basis.num_classes
    host_classes = bbox_head.get('num_classes')
    if sem_classes is not None and host_classes is not None and \
            sem_classes != host_classes:
        raise ValueError(
            f'the semantic head has num_classes={sem_classes} but '
            f'bbox_head has {host_classes}')
    return dict(copy.deepcopy(bbox_head), attn_channels=blender.attn_channels)


def check_pretrained(module) -> None:
    """Raise an actionable error if ``module.init_cfg`` names pretrained
    weights that cannot be loaded here (``torchvision://`` without
    torchvision, or a missing local file)."""
    init_cfg = getattr(module, 'init_cfg', None)
    if not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained':
        return
    ckpt = str(init_cfg.get('checkpoint', ''))
    if ckpt.startswith('torchvision://'):
        if importlib.util.find_spec('torchvision') is None:
            raise RuntimeError(
                f'backbone.init_cfg asks for ImageNet weights {ckpt!r}, which '
                'mmengine loads through torchvision, and torchvision is not '
                'installed (the pinned CPU stack has none). Either install '
                'torchvision matching your torch on this machine, or download '
                'the weights once and point the config at the file: '
                "--cfg-options model.backbone.init_cfg.checkpoint="
                "/path/to/resnet50.pth, or set model.backbone.init_cfg=None "
                'to train from scratch on purpose.')
    elif '://' not in ckpt and not osp.isfile(ckpt):
        raise FileNotFoundError(
            f'backbone pretrained checkpoint {ckpt!r} not found (from '
            'model.backbone.init_cfg.checkpoint); fix the path, or set '
            'model.backbone.init_cfg=None to train from scratch on purpose.')
