"""Shared pieces of BlendMask's bottom (basis) modules."""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.model import BaseModule
from torch import Tensor


def build_semantic_targets(
    batch_gt_instances: InstanceList,
    pad_shape: Tuple[int, int],
    stride: int,
    num_classes: int,
) -> Tensor:
    """Semantic labels built online from GT instance masks.

    Each instance's mask is painted with its label (largest first, so small
    objects stay visible where instances overlap); every other pixel is
    background, index ``num_classes``. The map is sampled at the centre of
    each ``stride x stride`` cell.

    Args:
        batch_gt_instances: per image ``InstanceData`` with ``masks``
            (Bitmap/PolygonMasks, at most ``pad_shape``) and ``labels``.
        pad_shape: ``(H, W)`` of the padded batch input.
        stride: output stride of the semantic logits.
        num_classes: number of foreground classes C.

    Returns:
        Tensor: ``[B, ceil(H / stride), ceil(W / stride)]`` int64 labels in
        ``[0, C]``.
    """
    H, W = pad_shape
    offset = stride // 2
    out_h, out_w = -(-H // stride), -(-W // stride)
    targets = []
    for gt in batch_gt_instances:
        device = gt.labels.device
        target = torch.full(
            (out_h, out_w), num_classes, dtype=torch.long, device=device
        )
        if len(gt) > 0:
            masks = gt.masks.to_tensor(dtype=torch.bool, device=device)
            masks = masks[:, offset::stride, offset::stride]
            h, w = masks.shape[-2:]
            order = masks.flatten(1).sum(1).argsort(descending=True)
            for i in order.tolist():
                target[:h, :w][masks[i]] = gt.labels[i]
        targets.append(target)
    return torch.stack(targets)


class BaseBasisModule(BaseModule):
    """Base of the bottom modules: input selection and the semantic head.

    Subclasses implement :meth:`_forward_bases`. Inputs are chosen by
    explicit indices into the feature tuple the detector gives (FPN outputs,
    or backbone outputs when ``feat_source='backbone'``), never by position,
    so adding a pyramid level does not shift anything.

    Args:
        in_channels (int | Sequence[int]): channels of each selected input.
        in_indices (Sequence[int]): indices of the inputs in the feature
            tuple.
        out_stride (int): output stride of the bases (4 or 8). The blender's
            ``bases_stride`` must match it.
        num_bases (int): K.
        feat_source (str): 'neck' (FPN levels) or 'backbone' (C2..C5).
        num_classes (int): foreground classes C for the auxiliary semantic
            head; ``None`` disables it.
        sem_in_index (int): index of the semantic head's input (P3) in the
            same feature tuple as ``in_indices``.
        sem_stride (int): stride of that input. Defaults to 8. Checked
            against the logits' size in :meth:`loss_semantic`.
        sem_channels (int): width of the semantic head. Defaults to 128.
        sem_in_channels (int, optional): channels of the semantic head's
            input. Defaults to those of ``in_indices``' entry equal to
            ``sem_in_index``, else (FPN levels all have the same width) to
            ``in_channels[0]`` with ``feat_source='neck'``; required with
            ``feat_source='backbone'`` when ``sem_in_index`` is not one of
            ``in_indices`` (C2..C5 differ in width).
        sem_loss_weight (float): Defaults to 0.3 (paper).
        norm_cfg (dict): norm of all convs; GN by default because BN breaks
            at the 1–2 images per device these models train with.
        sem_norm_cfg (dict, optional): norm of the semantic head's convs.
            Defaults to ``norm_cfg`` (AdelaiDet: plain BN there, SyncBN in
            the bases).
    """

    def __init__(
        self,
        in_channels,
        in_indices: Sequence[int],
        out_stride: int,
        num_bases: int = 4,
        feat_source: str = 'neck',
        num_classes: Optional[int] = None,
        sem_in_index: int = 0,
        sem_stride: int = 8,
        sem_channels: int = 128,
        sem_loss_weight: float = 0.3,
        norm_cfg: OptConfigType = dict(
            type='GN', num_groups=32, requires_grad=True
        ),
        sem_in_channels: Optional[int] = None,
        sem_norm_cfg: OptConfigType = None,
        init_cfg=None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if feat_source not in ('neck', 'backbone'):
            raise ValueError(
                "feat_source must be 'neck' or 'backbone', got "
                f'{feat_source!r}'
            )
        self.in_indices = tuple(in_indices)
        if isinstance(in_channels, int):
            in_channels = [in_channels] * len(self.in_indices)
        if len(in_channels) != len(self.in_indices):
            raise ValueError(
                'in_channels and in_indices must have the same length'
            )
        self.in_channels = list(in_channels)
        self.out_stride = out_stride
        self.num_bases = num_bases
        self.feat_source = feat_source
        self.num_classes = num_classes
        self.sem_in_index = sem_in_index
        self.sem_stride = sem_stride
        self.sem_loss_weight = sem_loss_weight
        self.norm_cfg = norm_cfg
        self.sem_in_channels = sem_in_channels
        if num_classes is not None:
            sem_in = self._sem_in_channels()
            sem_norm = norm_cfg if sem_norm_cfg is None else sem_norm_cfg
            self.sem_convs = nn.Sequential(
                ConvModule(
                    sem_in, sem_channels, 3, padding=1, norm_cfg=sem_norm
                ),
                ConvModule(
                    sem_channels, sem_channels, 3, padding=1, norm_cfg=sem_norm
                ),
            )
            self.sem_logits = nn.Conv2d(sem_channels, num_classes + 1, 1)

    def _sem_in_channels(self) -> int:
        if self.sem_in_channels is not None:
            return self.sem_in_channels
        if self.sem_in_index in self.in_indices:
            return self.in_channels[self.in_indices.index(self.sem_in_index)]
        if self.feat_source == 'backbone':
            raise ValueError(
                f'{type(self).__name__}: sem_in_index={self.sem_in_index} is '
                f'not one of in_indices {self.in_indices}, and backbone '
                'levels differ in width: set sem_in_channels to the channels '
                f'of backbone output {self.sem_in_index}, or set sem_in_index '
                f'to one of {self.in_indices} (the semantic head reads a '
                f'stride-{self.sem_stride} level, e.g. C3)'
            )
        return self.in_channels[0]

    def select(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Pick the configured inputs from the feature tuple."""
        if max(self.in_indices) >= len(feats):
            raise ValueError(
                f'{type(self).__name__} reads feature indices '
                f'{self.in_indices} but only {len(feats)} '
                f'{self.feat_source} levels exist'
            )
        inputs = [feats[i] for i in self.in_indices]
        widths = [x.size(1) for x in inputs]
        if widths != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} was built for in_channels='
                f'{self.in_channels} but its {self.feat_source} inputs '
                f'{self.in_indices} have {widths} channels: set '
                f'model.mask_head.basis.in_channels={widths} (or leave it '
                "out on a neck's levels: BlendMask takes it from "
                'model.neck.out_channels)'
            )
        return inputs

    def _forward_bases(self, inputs: List[Tensor]) -> Tensor:
        raise NotImplementedError

    def forward(
        self, feats: Sequence[Tensor]
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Return bases ``[B, K, H/s, W/s]`` and semantic logits
        ``[B, C+1, H/8, W/8]`` (``None`` without the semantic head or at
        inference), from the neck's levels ``feats`` or, with
        ``feat_source='backbone'``, the backbone's (``feats.backbone``, see
        :class:`~mmblend.models.detectors.blendmask.NeckFeatures`)."""
        if self.feat_source == 'backbone':  # a plain tuple: the backbone's
            feats = getattr(feats, 'backbone', feats)
        bases = self._forward_bases(self.select(feats))
        sem = None
        if self.num_classes is not None and self.training:
            sem = self.sem_logits(self.sem_convs(self._sem_input(feats)))
        return bases, sem

    def _sem_input(self, feats: Sequence[Tensor]) -> Tensor:
        """The semantic head's input, checked against its configuration."""
        name = type(self).__name__
        if not -len(feats) <= self.sem_in_index < len(feats):
            raise ValueError(
                f'{name}: sem_in_index={self.sem_in_index} but only '
                f'{len(feats)} {self.feat_source} levels exist'
            )
        feat = feats[self.sem_in_index]
        expected = self.sem_convs[0].conv.in_channels
        if feat.size(1) != expected:
            raise ValueError(
                f'{name}: the semantic head was built for {expected} input '
                f'channels but {self.feat_source} level sem_in_index='
                f'{self.sem_in_index} has {feat.size(1)}: set sem_in_channels='
                f'{feat.size(1)} or point sem_in_index at the level it was '
                'meant for'
            )
        return feat

    def loss_semantic(
        self,
        sem_logits: Tensor,
        batch_gt_instances: InstanceList,
        pad_shape: Tuple[int, int],
    ) -> Tensor:
        """Weighted cross-entropy of the auxiliary semantic head.

        Args:
            sem_logits: ``[B, C+1, H/s, W/s]`` with ``s = sem_stride``.
            batch_gt_instances: per image ``masks`` and ``labels``.
            pad_shape: ``(H, W)`` of the padded batch input.

        Raises:
            ValueError: if the logits are not at ``sem_stride`` (e.g.
                ``sem_in_index`` on a stride-4 level with ``sem_stride=8``),
                which would otherwise train a corner of the logits against
                the whole image.
        """
        targets = build_semantic_targets(
            batch_gt_instances, pad_shape, self.sem_stride, self.num_classes
        )
        # one cell of slack per side for odd sizes (ceil vs floor)
        if (
            abs(sem_logits.size(2) - targets.size(1)) > 1
            or abs(sem_logits.size(3) - targets.size(2)) > 1
        ):
            H, W = pad_shape
            raise ValueError(
                f'{type(self).__name__}: semantic logits of size '
                f'{tuple(sem_logits.shape[-2:])} for a {H}x{W} input are at '
                f'stride ~{H / sem_logits.size(2):g}, not sem_stride='
                f'{self.sem_stride} (targets {tuple(targets.shape[-2:])}): '
                f'sem_in_index={self.sem_in_index} reads a level of another '
                'stride; set sem_in_index to the stride-'
                f'{self.sem_stride} level or sem_stride to its stride'
            )
        h = min(targets.size(1), sem_logits.size(2))
        w = min(targets.size(2), sem_logits.size(3))
        loss = F.cross_entropy(sem_logits[:, :, :h, :w], targets[:, :h, :w])
        return self.sem_loss_weight * loss


def conv_stack(
    in_channels: int, channels: int, num_convs: int, norm_cfg: ConfigType
) -> nn.Sequential:
    """``num_convs`` 3x3 ConvModules (first maps in_channels -> channels)."""
    return nn.Sequential(
        *[
            ConvModule(
                in_channels if i == 0 else channels,
                channels,
                3,
                padding=1,
                norm_cfg=norm_cfg,
            )
            for i in range(num_convs)
        ]
    )
