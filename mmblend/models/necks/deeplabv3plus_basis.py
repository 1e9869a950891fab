"""DeepLabV3+ decoder as BlendMask's bottom module (the paper's default)."""

from typing import List, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from torch import Tensor

from ..layers.resize import resize
from .base_basis import BaseBasisModule, conv_stack


@MODELS.register_module()
class DeepLabV3PlusBasis(BaseBasisModule):
    """DeepLabV3+ decoder predicting K bases.

    ASPP (1x1 conv, dilated 3x3 convs, image pooling) on the high-level input,
    projected to ``channels``, upsampled to the low-level input's size and
    concatenated with the low-level input (projected to
    ``low_level_channels``), then ``num_convs`` 3x3 convs and a 1x1 conv to
    K bases. The bases' stride is the low-level input's stride.

    Inputs by explicit index (``in_indices = (low, high)``):

    * FPN P3+P5 (default, stride 8): ``in_indices=(0, 2)`` with FPN outputs
      P3..P7;
    * FPN P2+P5 (stride 4): FPN with ``start_level=0`` and
      ``in_indices=(0, 3)``, ``out_stride=4``;
    * backbone C3+C5 (Table 4): ``feat_source='backbone'``,
      ``in_indices=(1, 3)``, ``in_channels=(512, 2048)`` for R-50.

    Shapes: low ``[B, C_l, H/s, W/s]``, high ``[B, C_h, H/32, W/32]`` →
    bases ``[B, K, H/s, W/s]``.

    Args:
        channels (int): decoder width (128 in the ablations, 256 in the final
            models).
        low_level_channels (int): projection of the low-level input.
            Defaults to 64 (DeepLabV3+ uses 48, which GN with 32 groups
            cannot divide).
        dilations (Sequence[int]): ASPP dilations on the stride-32 input;
            (1, 3, 6, 9) matches DeepLabV3+'s (1, 6, 12, 18) at stride 16.
        num_convs (int): 3x3 convs after the fusion. Defaults to 2.
        **kwargs: see :class:`BaseBasisModule`.
    """

    def __init__(
        self,
        in_channels=256,
        in_indices: Sequence[int] = (0, 2),
        out_stride: int = 8,
        channels: int = 128,
        low_level_channels: int = 64,
        dilations: Sequence[int] = (1, 3, 6, 9),
        num_convs: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(in_channels, in_indices, out_stride, **kwargs)
        if len(self.in_indices) != 2:
            raise ValueError(
                'DeepLabV3PlusBasis takes exactly two inputs '
                '(low-level, high-level) in in_indices'
            )
        low_in, high_in = self.in_channels
        norm = self.norm_cfg
        self.aspp = nn.ModuleList(
            [
                ConvModule(
                    high_in,
                    channels,
                    1 if d == 1 else 3,
                    padding=0 if d == 1 else d,
                    dilation=d,
                    norm_cfg=norm,
                )
                for d in dilations
            ]
        )
        self.image_pool = ConvModule(high_in, channels, 1, norm_cfg=None)
        self.aspp_project = ConvModule(
            channels * (len(dilations) + 1), channels, 1, norm_cfg=norm
        )
        self.low_project = ConvModule(
            low_in, low_level_channels, 1, norm_cfg=norm
        )
        self.fuse = conv_stack(
            channels + low_level_channels, channels, num_convs, norm
        )
        self.bases = nn.Conv2d(channels, self.num_bases, 1)

    def _forward_bases(self, inputs: List[Tensor]) -> Tensor:
        low, high = inputs
        pooled = self.image_pool(high.mean(dim=(2, 3), keepdim=True))
        branches = [conv(high) for conv in self.aspp]
        branches.append(pooled.expand_as(branches[0]))
        x = self.aspp_project(torch.cat(branches, dim=1))
        x = resize(x, low.shape[-2:])
        x = self.fuse(torch.cat([x, self.low_project(low)], dim=1))
        return self.bases(x)
