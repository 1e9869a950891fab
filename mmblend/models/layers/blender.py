"""The blender: merge cropped bases with per-instance attentions (paper
§3.2)."""

import math
from typing import Tuple

import torch
import torch.nn as nn
from mmcv.ops import RoIAlign
from mmdet.registry import MODELS
from torch import Tensor

from .resize import MODES as TOP_INTERPS
from .resize import resize
from .roi_pool import RoIPool

POOLERS = ('RoIAlign', 'RoIPool')
MERGES = ('blender', 'assembler')
#: the one-basis probability is clamped to [LOGIT_EPS, 1 - LOGIT_EPS]
LOGIT_EPS = 1e-6


def check_finite(rois: Tensor) -> None:
    """Refuse ``[n, 5]`` rois with a NaN or infinite coordinate: mmcv's
    RoIAlign kernels turn them into indices outside the bases (on the CPU,
    a segmentation fault of the whole process)."""
    bad = ~torch.isfinite(rois).all(dim=1)
    if bad.any():
        raise ValueError(
            f'{int(bad.sum())} of {len(rois)} boxes to crop the bases with '
            f'are not finite (first: {rois[bad][0].tolist()}): the '
            'detector predicted NaN or infinite boxes (diverged training, '
            'a NaN loss, or corrupt weights)'
        )


@MODELS.register_module()
class Blender(nn.Module):
    """BlendMask's blender module.

    For each of ``n`` boxes, the bases are cropped to ``R x R``
    (``R = bottom_resolution``); the box's attention ``[K, M, M]``
    (``M = attn_size``) is resized to ``R x R``, normalised over ``K`` and
    used to weight the ``K`` cropped bases, which are then summed.

    The blender always returns mask **logits** ``[n, R, R]`` (the mask head
    applies ``sigmoid``; the loss is BCE with logits). Variants (all paper
    tables):

    * ``merge='blender'`` with ``K > 1``: softmax over K, weighted sum.
    * ``merge='blender'`` with ``K == 1`` (Table 3, one basis): softmax over a
      single map is constant, so both the cropped basis and the attention go
      through ``sigmoid`` and their product is the mask probability, returned
      as its logit (clamped to ``[LOGIT_EPS, 1 - LOGIT_EPS]`` first, in
      float32 also under mixed precision: the same loss and gradients as BCE
      on the probability clamped there).
    * ``attn_size=1``: one scalar per basis per instance, the YOLACT-style
      weighted sum (Table 1).
    * ``merge='assembler'``: the FCIS-style position-sensitive assembler
      (Table 1). ``K = g * g`` bases, no attention (``attn_channels == 0``);
      tile ``(i, j)`` of the ``g x g`` grid of the ``R x R`` crop is taken from
      basis ``i * g + j``. Returns logits.
    * ``pooler='RoIPool'`` (Table 6) uses mmcv's kernel on CUDA and mmblend's
      CPU implementation of it elsewhere.

    Args:
        num_bases (int): K, the number of bases. Defaults to 4.
        attn_size (int): M, attention resolution. Defaults to 14.
        bottom_resolution (int): R, crop and output resolution.
            Defaults to 56.
        bases_stride (int): Output stride of the bases relative to the input
            image; must equal the basis module's ``out_stride``.
            Defaults to 8.
        pooler (str): 'RoIAlign' (aligned, as the paper) or 'RoIPool'.
        sampling_ratio (int): RoIAlign sampling ratio. Defaults to 1.
        top_interp (str): 'bilinear' (align_corners=False) or 'nearest'
            resizing of the attention from M to R.
        merge (str): 'blender' or 'assembler'.
    """

    def __init__(
        self,
        num_bases: int = 4,
        attn_size: int = 14,
        bottom_resolution: int = 56,
        bases_stride: int = 8,
        pooler: str = 'RoIAlign',
        sampling_ratio: int = 1,
        top_interp: str = 'bilinear',
        merge: str = 'blender',
    ) -> None:
        super().__init__()
        if pooler not in POOLERS:
            raise ValueError(
                f'pooler must be one of {POOLERS}, got {pooler!r}'
            )
        if merge not in MERGES:
            raise ValueError(f'merge must be one of {MERGES}, got {merge!r}')
        if top_interp not in TOP_INTERPS:
            raise ValueError(
                f'top_interp must be one of {TOP_INTERPS}, got {top_interp!r}'
            )
        if num_bases < 1 or attn_size < 1 or bottom_resolution < 1:
            raise ValueError(
                'num_bases, attn_size and bottom_resolution must be positive'
            )
        self.num_bases = num_bases
        self.attn_size = attn_size
        self.bottom_resolution = bottom_resolution
        self.bases_stride = bases_stride
        self.pooler_type = pooler
        self.top_interp = top_interp
        self.merge_type = merge
        R = bottom_resolution
        if pooler == 'RoIAlign':
            self.pooler = RoIAlign(
                (R, R), 1.0 / bases_stride, sampling_ratio, aligned=True
            )
        else:
            self.pooler = RoIPool((R, R), 1.0 / bases_stride)
        if merge == 'assembler':
            g = math.isqrt(num_bases)
            if g * g != num_bases or R % g:
                raise ValueError(
                    'merge="assembler" needs num_bases = g*g with '
                    f'bottom_resolution divisible by g; got K={num_bases}, '
                    f'R={R}'
                )
            tile = R // g
            tiles = torch.zeros(num_bases, R, R)
            for i in range(g):
                for j in range(g):
                    tiles[
                        i * g + j,
                        i * tile : (i + 1) * tile,
                        j * tile : (j + 1) * tile,
                    ] = 1
            self.register_buffer('tile_masks', tiles, persistent=False)

    @property
    def attn_channels(self) -> int:
        """Channels the top layer must predict per location (K*M*M, or 0)."""
        if self.merge_type == 'assembler':
            return 0
        return self.num_bases * self.attn_size * self.attn_size

    def crop(self, bases: Tensor, rois: Tensor) -> Tensor:
        """Crop ``[B, K, H, W]`` bases with ``[n, 5]`` rois ->
        ``[n, K, R, R]``."""
        R = self.bottom_resolution
        if not torch.jit.is_tracing():
            if rois.numel() == 0:
                # an empty slice of the bases keeps the autograd graph
                return bases[:0, :, :1, :1].expand(0, bases.size(1), R, R)
            check_finite(rois)
        return self.pooler(bases, rois.to(bases.dtype))

    def merge(self, crops: Tensor, attns: Tensor) -> Tensor:
        """Merge ``[n, K, R, R]`` crops with ``[n, K*M*M]`` attentions.

        Returns:
            Tensor: ``[n, R, R]`` mask logits.
        """
        if self.merge_type == 'assembler':
            return (crops * self.tile_masks).sum(dim=1)
        _, products = self.blend_terms(crops, attns)
        if self.num_bases == 1:  # a probability
            return torch.logit(products[:, 0].float(), eps=LOGIT_EPS)
        return products.sum(dim=1)

    def blend_terms(
        self, crops: Tensor, attns: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """The terms of the blend (``merge='blender'``): the attentions
        resized to ``R x R`` and normalised over K, and the per-basis
        products, both ``[n, K, R, R]``. With ``K > 1`` the products add up
        to the mask logits (softmax weights times crops); with ``K == 1``
        the product is the mask probability (``sigmoid`` of both)."""
        n, K, R, _ = crops.shape
        M = self.attn_size
        if attns.shape != (n, K * M * M):
            raise ValueError(
                f'attns must have shape [{n}, {K * M * M}] '
                f'(n, K*M*M), got {list(attns.shape)}'
            )
        if n == 0 and not torch.jit.is_tracing():
            return crops, crops
        # unflatten, not view(n, ...): its ONNX Reshape takes 0 rows
        weights = resize(
            attns.unflatten(1, (K, M, M)), (R, R), self.top_interp
        )
        if K == 1:
            weights = weights.float().sigmoid()
            return weights, crops.float().sigmoid() * weights
        weights = weights.softmax(dim=1)
        return weights, crops * weights

    def forward(self, bases: Tensor, attns: Tensor, rois: Tensor) -> Tensor:
        """Blend.

        Args:
            bases (Tensor): ``[B, K, H, W]`` bases at ``bases_stride``.
            attns (Tensor): ``[n, K*M*M]`` attentions (layout
                ``view(n, K, M, M)``); ignored by the assembler.
            rois (Tensor): ``[n, 5]`` (batch index, x1, y1, x2, y2) in
                input-image pixels.

        Returns:
            Tensor: ``[n, R, R]`` mask logits.
        """
        if bases.dim() != 4 or bases.size(1) != self.num_bases:
            raise ValueError(
                f'bases must be [B, {self.num_bases}, H, W], '
                f'got {list(bases.shape)}'
            )
        if rois.dim() != 2 or rois.size(1) != 5:
            raise ValueError(f'rois must be [n, 5], got {list(rois.shape)}')
        return self.merge(self.crop(bases, rois), attns)

    def extra_repr(self) -> str:
        return (
            f'K={self.num_bases}, M={self.attn_size}, '
            f'R={self.bottom_resolution}, stride={self.bases_stride}, '
            f'pooler={self.pooler_type}, top_interp={self.top_interp}, '
            f'merge={self.merge_type}'
        )
