"""The BlendMask detector."""
import copy
import importlib.util
import os.path as osp
from typing import Sequence

import torch
from mmdet.models.detectors.single_stage_instance_seg import (
    SingleStageInstanceSegmentor,
)
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from ..dense_heads.host_support import check_host


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
    ``Blend*Head`` (``BlendATSSHead``, ``BlendGFLHead``, ...); any other head
    is refused before anything is built, naming the supported hosts and why
    the head cannot be one
    (:func:`~mmblend.models.dense_heads.host_support.check_host`). Its
    ``attn_channels`` is taken from the mask head's blender (set it only to
    double-check). ``mask_head`` is a
    :class:`~mmblend.models.BlendMaskMaskHead`; its basis module's
    ``in_channels`` is taken from ``neck.out_channels`` when it reads the
    neck's levels (:func:`fill_basis_in_channels`). Training and inference are
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
        check_host(bbox_head.get('type'))
        mask_head = copy.deepcopy(mask_head)
        fill_basis_in_channels(mask_head.get('basis'), neck)
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=None,
            mask_head=mask_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        blender = self.mask_head.blender
        given = bbox_head.get('attn_channels')
        if given is not None and given != blender.attn_channels:
            raise ValueError(
                f'bbox_head.attn_channels={given} but the blender needs '
                f'K*M*M={blender.attn_channels} (K={blender.num_bases}, '
                f'M={blender.attn_size}, merge={blender.merge_type}); '
                'remove attn_channels from bbox_head to derive it')
        self.bbox_head = MODELS.build(
            dict(copy.deepcopy(bbox_head),
                 attn_channels=blender.attn_channels,
                 train_cfg=copy.deepcopy(train_cfg),
                 test_cfg=copy.deepcopy(test_cfg)))
        self._apply_clip_order(self.test_cfg or {})
        sem_classes = self.mask_head.basis.num_classes
        if sem_classes is not None and \
                sem_classes != self.bbox_head.num_classes:
            raise ValueError(
                f'the semantic head has num_classes={sem_classes} but '
                f'bbox_head has {self.bbox_head.num_classes}')

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
        """The whole network on images alone, without post-processing
        (``mode='tensor'``, e.g. for FLOP counters such as mmdet's
        ``tools/analysis_tools/get_flops.py``).

        Returns:
            tuple: ``(bbox_head outputs, (bases, sem_logits), mask_logits)``;
            ``mask_logits [B, D, R, R]`` is the mask branch at ``D =
            test_cfg.max_per_img`` candidates per image (100: the most
            detections inference keeps): the top layer at the ``D`` priors
            with the highest class score, blended with the whole image as
            RoI. At inference the RoIs are the detections' boxes, which only
            move RoIAlign's sampling points: this costs what ``D``
            detections cost.
        """
        x = self.extract_feat(batch_inputs)
        outs = self.bbox_head.forward(x)
        bases, sem_logits = self.mask_head.forward(x)
        box_towers, cls_scores = outs[0], outs[1]
        num_dets = (self.test_cfg or {}).get('max_per_img', 100)
        h, w = batch_inputs.shape[-2:]
        attns, rois = [], []
        for i in range(batch_inputs.shape[0]):
            scores = torch.cat([
                c[i].permute(1, 2, 0).reshape(
                    -1, self.bbox_head.cls_out_channels) for c in cls_scores
            ]).max(dim=1)[0]
            prior_inds = scores.topk(min(num_dets, scores.numel()))[1]
            attns.append(self.bbox_head.attns_at([t[i] for t in box_towers],
                                                 prior_inds))
            rois.append(scores.new_tensor([[i, 0, 0, w, h]]).expand(
                len(prior_inds), 5))
        mask_logits = self.mask_head.blender(bases, torch.cat(attns),
                                             torch.cat(rois))
        return outs, (bases, sem_logits), mask_logits.unflatten(
            0, (batch_inputs.shape[0], -1))


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


def fill_basis_in_channels(basis: OptConfigType, neck: OptConfigType) -> None:
    """Take the basis module's ``in_channels`` from the neck, as the blender
    gives ``bbox_head.attn_channels``: filled in ``basis`` when it is not
    given, checked when it is (``ValueError`` naming the key), for a basis
    module reading the neck's levels (``feat_source='neck'``) of a neck
    (the last of a list) with one ``out_channels`` for all levels (FPN,
    CSPNeXtPAFPN, YOLOXPAFPN, ...). Other inputs are checked against the
    features at the first forward
    (:meth:`~mmblend.models.necks.base_basis.BaseBasisModule.select`)."""
    if not isinstance(basis, dict) or basis.get('feat_source',
                                                'neck') != 'neck':
        return
    if isinstance(neck, (list, tuple)):
        neck = neck[-1] if neck else None
    width = neck.get('out_channels') if isinstance(neck, dict) else None
    if not isinstance(width, int):
        return
    given = basis.get('in_channels')
    if given is None:
        basis['in_channels'] = width
    elif any(w != width
             for w in ([given] if isinstance(given, int) else given)):
        raise ValueError(
            f'model.mask_head.basis.in_channels={given} but the neck gives '
            f'{width} channels per level (model.neck.out_channels): leave '
            'model.mask_head.basis.in_channels out to take it from the '
            f'neck, or set it to {width}')
