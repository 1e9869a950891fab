"""The BlendMask detector."""

import copy
import importlib.util
import os.path as osp
from typing import Optional, Sequence, Tuple

import torch
from mmdet.models.detectors.single_stage_instance_seg import (
    SingleStageInstanceSegmentor,
)
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from torch import Tensor, nn

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

    ``keypoint_head`` (optional) is a
    :class:`~mmblend.models.BlendKeypointHead`: the top layer then predicts
    the mask blender's channels followed by the keypoint blender's, each
    branch gets its share of the positives' and detections' ``attns``
    (:meth:`split_attns`), and the predictions carry ``keypoints [D, J, 2]``
    and ``keypoint_scores [D, J]``.
    """

    def __init__(
        self,
        backbone: ConfigType,
        neck: OptConfigType,
        bbox_head: ConfigType,
        mask_head: ConfigType,
        keypoint_head: OptConfigType = None,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
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
            init_cfg=init_cfg,
        )
        self.keypoint_head = (
            None if keypoint_head is None else MODELS.build(keypoint_head)
        )
        self.bbox_head = MODELS.build(
            dict(
                blend_host_config(
                    bbox_head, self.mask_head, self.keypoint_head
                ),
                train_cfg=copy.deepcopy(train_cfg),
                test_cfg=copy.deepcopy(test_cfg),
            )
        )
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
                'alone)'
            )

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

    def _forward(
        self,
        batch_inputs: Tensor,
        batch_data_samples: OptSampleList = None,
        **kwargs,
    ) -> tuple:
        """The whole network on images alone, without post-processing
        (``mode='tensor'``, e.g. for FLOP counters such as mmdet's
        ``tools/analysis_tools/get_flops.py``).

        Returns:
            tuple: ``(bbox_head outputs, (bases, sem_logits), mask_logits)``
            and, with a keypoint head, its keypoint bases;
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
            scores = torch.cat(
                [
                    c[i]
                    .permute(1, 2, 0)
                    .reshape(-1, self.bbox_head.cls_out_channels)
                    for c in cls_scores
                ]
            ).max(dim=1)[0]
            prior_inds = scores.topk(min(num_dets, scores.numel()))[1]
            # (the mask blender's channels: a keypoint head has the rest)
            attns.append(
                self.bbox_head.attns_at(
                    [t[i] for t in box_towers], prior_inds
                )[:, : self.mask_head.blender.attn_channels]
            )
            rois.append(
                scores.new_tensor([[i, 0, 0, w, h]]).expand(len(prior_inds), 5)
            )
        mask_logits = self.mask_head.blender(
            bases, torch.cat(attns), torch.cat(rois)
        )
        outs = (
            outs,
            (bases, sem_logits),
            mask_logits.unflatten(0, (batch_inputs.shape[0], -1)),
        )
        if self.with_keypoint:
            outs += (self.keypoint_head.forward(x),)
        return outs

    # keypoints: the detector splits the attentions between the branches ---
    @property
    def with_keypoint(self) -> bool:
        return getattr(self, 'keypoint_head', None) is not None

    def split_attns(
        self, infos: InstanceList
    ) -> Tuple[InstanceList, Optional[InstanceList]]:
        """Per branch, ``infos`` (the host's positives or detections, with
        the top layer's ``attns [n, C]``) with that branch's ``attns``: the
        mask blender's first ``mask_head.blender.attn_channels`` channels,
        the keypoint blender's the rest. Without a keypoint head:
        ``(infos, None)``."""
        if not self.with_keypoint:
            return infos, None
        split = self.mask_head.blender.attn_channels
        mask_infos, keypoint_infos = [], []
        for info in infos:
            mask_info, keypoint_info = info.new(), info.new()
            mask_info.attns = info.attns[:, :split]
            keypoint_info.attns = info.attns[:, split:]
            mask_infos.append(mask_info)
            keypoint_infos.append(keypoint_info)
        return mask_infos, keypoint_infos

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList, **kwargs
    ) -> dict:
        """mmdet's wiring; with a keypoint head, the positives' attentions
        are split between the mask and keypoint branches."""
        if not self.with_keypoint:
            return super().loss(batch_inputs, batch_data_samples, **kwargs)
        x = self.extract_feat(batch_inputs)
        losses = self.bbox_head.loss(x, batch_data_samples, **kwargs)
        mask_infos, keypoint_infos = self.split_attns(
            self.bbox_head.get_positive_infos()
        )
        losses.update(
            self.mask_head.loss(
                x, batch_data_samples, positive_infos=mask_infos, **kwargs
            )
        )
        losses.update(
            self.keypoint_head.loss(x, batch_data_samples, keypoint_infos)
        )
        return losses

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: bool = True,
        **kwargs,
    ) -> SampleList:
        """mmdet's wiring; with a keypoint head, the detections (boxes at
        the input scale) also go to it and ``pred_instances`` gets
        ``keypoints`` and ``keypoint_scores``."""
        if not self.with_keypoint:
            return super().predict(
                batch_inputs, batch_data_samples, rescale=rescale, **kwargs
            )
        x = self.extract_feat(batch_inputs)
        mask_results, keypoint_results = self.split_attns(
            self.bbox_head.predict(x, batch_data_samples, rescale=False)
        )
        keypoints = self.keypoint_head.predict(
            x, batch_data_samples, keypoint_results, rescale=rescale
        )
        for results, kps in zip(mask_results, keypoints):
            results.update(kps)  # kept with the detections the masks keep
        results_list = self.mask_head.predict(
            x, batch_data_samples, rescale=rescale, results_list=mask_results
        )
        return self.add_pred_to_datasample(batch_data_samples, results_list)


def blend_host_config(
    bbox_head: ConfigType,
    mask_head: nn.Module,
    keypoint_head: Optional[nn.Module] = None,
) -> dict:
    """The config of a host head feeding ``mask_head`` (a built
    :class:`~mmblend.models.BlendMaskMaskHead`) and, if given,
    ``keypoint_head`` (a built :class:`~mmblend.models.BlendKeypointHead`):
    a copy of ``bbox_head`` with ``attn_channels`` set to the blender's
    ``K*M*M`` plus the keypoint blender's channels.

    Raises ``ValueError`` if ``bbox_head`` sets another ``attn_channels`` or
    if the semantic head's class count differs from the host's
    ``num_classes``. Used by every detector with this mask branch
    (:class:`BlendMask`, :class:`~mmblend.models.BlendDINO`, ...).
    """
    blender = mask_head.blender
    attn_channels = blender.attn_channels
    needs = (
        f'K*M*M={blender.attn_channels} (K={blender.num_bases}, '
        f'M={blender.attn_size}, merge={blender.merge_type})'
    )
    if keypoint_head is not None:
        attn_channels += keypoint_head.blender.attn_channels
        needs += (
            f" + the keypoint blender's {keypoint_head.blender.attn_channels}"
        )
    given = bbox_head.get('attn_channels')
    if given is not None and given != attn_channels:
        raise ValueError(
            f'bbox_head.attn_channels={given} but the blender needs '
            f'{needs}; remove attn_channels from bbox_head to derive it'
        )
    sem_classes = mask_head.basis.num_classes
    host_classes = bbox_head.get('num_classes')
    if (
        sem_classes is not None
        and host_classes is not None
        and sem_classes != host_classes
    ):
        raise ValueError(
            f'the semantic head has num_classes={sem_classes} but '
            f'bbox_head has {host_classes}'
        )
    return dict(copy.deepcopy(bbox_head), attn_channels=attn_channels)


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
                'to train from scratch on purpose.'
            )
    elif '://' not in ckpt and not osp.isfile(ckpt):
        raise FileNotFoundError(
            f'backbone pretrained checkpoint {ckpt!r} not found (from '
            'model.backbone.init_cfg.checkpoint); fix the path, or set '
            'model.backbone.init_cfg=None to train from scratch on purpose.'
        )


def fill_basis_in_channels(basis: OptConfigType, neck: OptConfigType) -> None:
    """Take the basis module's ``in_channels`` from the neck, as the blender
    gives ``bbox_head.attn_channels``: filled in ``basis`` when it is not
    given, checked when it is (``ValueError`` naming the key), for a basis
    module reading the neck's levels (``feat_source='neck'``) of a neck
    (the last of a list) with one ``out_channels`` for all levels (FPN,
    CSPNeXtPAFPN, YOLOXPAFPN, ...). Other inputs are checked against the
    features at the first forward
    (:meth:`~mmblend.models.necks.base_basis.BaseBasisModule.select`)."""
    if (
        not isinstance(basis, dict)
        or basis.get('feat_source', 'neck') != 'neck'
    ):
        return
    if isinstance(neck, (list, tuple)):
        neck = neck[-1] if neck else None
    width = neck.get('out_channels') if isinstance(neck, dict) else None
    if not isinstance(width, int):
        return
    given = basis.get('in_channels')
    if given is None:
        basis['in_channels'] = width
    elif any(
        w != width for w in ([given] if isinstance(given, int) else given)
    ):
        raise ValueError(
            f'model.mask_head.basis.in_channels={given} but the neck gives '
            f'{width} channels per level (model.neck.out_channels): leave '
            'model.mask_head.basis.in_channels out to take it from the '
            f'neck, or set it to {width}'
        )
