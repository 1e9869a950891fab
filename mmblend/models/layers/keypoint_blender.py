"""Blending bases into keypoint heatmaps, their targets and their decoding.

:class:`KeypointBlender` is the blender of paper §3.2 with one output map
per keypoint: for each of ``n`` boxes and each of ``J`` keypoints an
``R x R`` heatmap of logits, the bases cropped to the box and weighted by
the box's attention (softmax over the bases of the keypoint, per position),
then summed. Two config values choose which bases and which attentions a
keypoint uses:

* ``shared_bases``: every keypoint blends the same ``K`` bases
  (``num_bases = K``), or keypoint ``j`` blends its own group of ``K``
  (``num_bases = J * K``, group ``j`` = channels ``[j*K, (j+1)*K)``);
* ``shared_attention``: one ``[K, M, M]`` attention per box for all
  keypoints (``attn_channels = K*M*M``), or one per keypoint
  (``J*K*M*M``, layout ``view(n, J, K, M, M)``).

Keypoint-specific bases with a shared attention read as "where, in this
box, is this instance" (the attention) times "where are the left wrists"
(the bases); shared bases need per-keypoint attentions (with both shared,
every keypoint would get the same map, refused). The costs of the
combinations are compared in ``docs/keypoints.md``.

:func:`keypoint_targets` (Mask R-CNN's discretisation of keypoints into a
box's ``R x R`` grid) and :func:`heatmaps_to_keypoints` (the heatmap's
maximum after bicubic upsampling to the box's pixel size, with a score
normalised over the ``R x R`` map) are the semantics of detectron2's
``keypoints_to_heatmap`` and ``heatmaps_to_keypoints``.
"""

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor

from .blender import Blender
from .resize import resize


@MODELS.register_module()
class KeypointBlender(Blender):
    """Per-keypoint blender (see the module docstring).

    Args:
        num_bases (int): channels of the bases (K, or J*K without
            ``shared_bases``); filled from the basis module.
        num_keypoints (int): J. Defaults to 17.
        shared_bases (bool): all keypoints blend the same bases. Defaults to
            False.
        shared_attention (bool): one attention per box for all keypoints.
            Defaults to True.
        attn_size (int): M. Defaults to 14.
        bottom_resolution (int): R, heatmap resolution. Defaults to 56
            (Mask R-CNN's keypoint heatmaps).
        bases_stride, pooler, sampling_ratio, top_interp: as
            :class:`Blender`.
    """

    def __init__(
        self,
        num_bases: int = 68,
        num_keypoints: int = 17,
        shared_bases: bool = False,
        shared_attention: bool = True,
        attn_size: int = 14,
        bottom_resolution: int = 56,
        bases_stride: int = 8,
        pooler: str = 'RoIAlign',
        sampling_ratio: int = 1,
        top_interp: str = 'bilinear',
    ) -> None:
        super().__init__(
            num_bases=num_bases,
            attn_size=attn_size,
            bottom_resolution=bottom_resolution,
            bases_stride=bases_stride,
            pooler=pooler,
            sampling_ratio=sampling_ratio,
            top_interp=top_interp,
        )
        if shared_bases and shared_attention:
            raise ValueError(
                'KeypointBlender with shared_bases=True and shared_attention'
                '=True would give every keypoint the same heatmap; set one '
                'of them to False'
            )
        J = num_keypoints
        if not shared_bases and num_bases % J:
            raise ValueError(
                f'KeypointBlender: keypoint-specific bases '
                f'(shared_bases=False) need num_bases = num_keypoints * K; '
                f'the basis module gives {num_bases} for {J} keypoints: set '
                f'its num_bases to a multiple of {J} (e.g. {4 * J})'
            )
        self.num_keypoints = J
        self.shared_bases = shared_bases
        self.shared_attention = shared_attention
        self.bases_per_keypoint = num_bases if shared_bases else num_bases // J
        if self.bases_per_keypoint < 2:
            raise ValueError(
                'KeypointBlender needs at least 2 bases per keypoint (the '
                'attention is a softmax over them; with one it has no '
                f'effect); got {self.bases_per_keypoint}'
            )

    @property
    def attn_channels(self) -> int:
        """``K*M*M`` (shared attention) or ``J*K*M*M``."""
        per_keypoint = self.bases_per_keypoint * self.attn_size**2
        return (
            per_keypoint
            if self.shared_attention
            else self.num_keypoints * per_keypoint
        )

    def merge(self, crops: Tensor, attns: Tensor) -> Tensor:
        """Merge ``[n, num_bases, R, R]`` crops with ``[n, attn_channels]``
        attentions into ``[n, J, R, R]`` heatmap logits."""
        n, _, R, _ = crops.shape
        J, K, M = self.num_keypoints, self.bases_per_keypoint, self.attn_size
        if attns.shape != (n, self.attn_channels):
            raise ValueError(
                f'attns must have shape [{n}, '
                f'{self.attn_channels}], got {list(attns.shape)}'
            )
        groups_b = 1 if self.shared_bases else J
        groups_a = 1 if self.shared_attention else J
        crops = crops.view(n, groups_b, K, R, R)
        if n == 0:
            return crops.sum(dim=2).expand(0, J, R, R)
        attns = resize(
            attns.view(n, groups_a * K, M, M), (R, R), self.top_interp
        ).view(n, groups_a, K, R, R)
        return (crops * attns.softmax(dim=2)).sum(dim=2).expand(n, J, R, R)

    def extra_repr(self) -> str:
        return (
            super().extra_repr() + f', J={self.num_keypoints}, '
            f'shared_bases={self.shared_bases}, '
            f'shared_attention={self.shared_attention}'
        )


def keypoint_targets(
    keypoints: Tensor, boxes: Tensor, size: int
) -> Tuple[Tensor, Tensor]:
    """Discretise keypoints into each box's ``size x size`` grid.

    A keypoint at ``x`` in box ``[x1, x2]`` falls in cell
    ``floor((x - x1) * size / (x2 - x1))`` (a keypoint exactly on the right
    or bottom edge in the last cell); it is a target if it is labelled
    (``v > 0``) and inside the box.

    Args:
        keypoints: ``[N, J, 3]`` (x, y, v) in the boxes' coordinates.
        boxes: ``[N, 4]`` (x1, y1, x2, y2).
        size: grid size R.

    Returns:
        ``(index [N, J] long, valid [N, J] bool)``: the flat cell index
        ``y * R + x`` (0 where not valid) and whether it is a target.
    """
    x1, y1, x2, y2 = (boxes[:, i, None] for i in range(4))
    x, y = keypoints[..., 0], keypoints[..., 1]
    cx = ((x - x1) * (size / (x2 - x1).clamp(min=1e-6))).floor().long()
    cy = ((y - y1) * (size / (y2 - y1).clamp(min=1e-6))).floor().long()
    cx = torch.where(x == x2, torch.full_like(cx, size - 1), cx)
    cy = torch.where(y == y2, torch.full_like(cy, size - 1), cy)
    valid = (
        (keypoints[..., 2] > 0)
        & (cx >= 0)
        & (cy >= 0)
        & (cx < size)
        & (cy < size)
    )
    index = torch.where(valid, cy * size + cx, torch.zeros_like(cx))
    return index, valid


def heatmaps_to_keypoints(
    heatmaps: Tensor, boxes: Tensor
) -> Tuple[Tensor, Tensor]:
    """Keypoints and scores from ``[n, J, R, R]`` heatmap logits.

    Each box's heatmaps are upsampled (bicubic) to the box's size in pixels,
    ``ceil(w) x ceil(h)``, and the maximum of each is the keypoint: the
    centre of that pixel, scaled back by ``w / ceil(w)`` (``h / ceil(h)``)
    and offset by the box corner. Its score is the heatmap's softmax at the
    maximum, normalised over the ``R x R`` map (comparable across box
    sizes): ``1 / sum(exp(heatmap - max))``.

    Args:
        heatmaps: ``[n, J, R, R]`` logits.
        boxes: ``[n, 4]`` (x1, y1, x2, y2), in the coordinates of the
            returned keypoints.

    Returns:
        ``(keypoints [n, J, 2] (x, y), scores [n, J])``.
    """
    n, J = heatmaps.shape[:2]
    keypoints = heatmaps.new_zeros((n, J, 2))
    scores = heatmaps.new_zeros((n, J))
    heatmaps = heatmaps.float()
    for i in range(n):
        x1, y1, x2, y2 = boxes[i].tolist()
        w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        out_w, out_h = math.ceil(w), math.ceil(h)
        up = F.interpolate(
            heatmaps[i : i + 1],
            size=(out_h, out_w),
            mode='bicubic',
            align_corners=False,
        )[0]
        peak, pos = up.flatten(1).max(dim=1)
        keypoints[i, :, 0] = ((pos % out_w).float() + 0.5) * (w / out_w) + x1
        keypoints[i, :, 1] = (
            torch.div(pos, out_w, rounding_mode='floor').float() + 0.5
        ) * (h / out_h) + y1
        scores[i] = 1 / (heatmaps[i] - peak[:, None, None]).exp().sum((1, 2))
    return keypoints, scores
