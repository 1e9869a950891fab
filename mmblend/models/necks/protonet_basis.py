"""YOLACT's ProtoNet and the Proto-FPN variant as bottom modules."""

from typing import List, Sequence

import torch.nn as nn
from mmdet.registry import MODELS
from torch import Tensor

from ..layers.resize import resize
from .base_basis import BaseBasisModule, conv_stack


@MODELS.register_module()
class ProtoNetBasis(BaseBasisModule):
    """ProtoNet (one input) or Proto-FPN (several inputs) predicting K bases.

    * ProtoNet (Table 7 "Proto-P3"): ``in_indices=(0,)`` (P3), ``channels``
      256, ``num_convs`` 3.
    * Proto-FPN (Table 7, BlendMask-RT, AdelaiDet's zoo): ``in_indices``
      P3..P5, each refined to ``refine_channels`` (128) by a 3x3 conv,
      upsampled to the first input's size and summed.

    Then ``num_convs`` 3x3 convs, x2 bilinear upsampling, one 3x3 conv and a
    1x1 conv to K bases, so the bases' stride is half the first input's:
    P3 (stride 8) → ``out_stride=4``.

    Shapes: inputs ``[B, C, H/8, W/8]``, ``[B, C, H/16, W/16]``, ... →
    bases ``[B, K, H/4, W/4]``.

    Args:
        channels (int): tower width. Defaults to 128.
        refine_channels (int): Proto-FPN refinement width. Defaults to 128.
        num_convs (int): tower depth. Defaults to 3.
        **kwargs: see :class:`BaseBasisModule`.
    """

    def __init__(
        self,
        in_channels=256,
        in_indices: Sequence[int] = (0, 1, 2),
        out_stride: int = 4,
        channels: int = 128,
        refine_channels: int = 128,
        num_convs: int = 3,
        **kwargs,
    ) -> None:
        super().__init__(in_channels, in_indices, out_stride, **kwargs)
        norm = self.norm_cfg
        if len(self.in_indices) > 1:
            self.refine = nn.ModuleList(
                [
                    conv_stack(c, refine_channels, 1, norm)
                    for c in self.in_channels
                ]
            )
            tower_in = refine_channels
        else:
            self.refine = None
            tower_in = self.in_channels[0]
        self.tower = conv_stack(tower_in, channels, num_convs, norm)
        self.head = conv_stack(channels, channels, 1, norm)
        self.bases = nn.Conv2d(channels, self.num_bases, 1)

    def _forward_bases(self, inputs: List[Tensor]) -> Tensor:
        if self.refine is None:
            x = inputs[0]
        else:
            size = inputs[0].shape[-2:]
            x = 0
            for feat, refine in zip(inputs, self.refine):
                feat = refine(feat)
                if feat.shape[-2:] != size:
                    feat = resize(feat, size)
                x = x + feat
        x = self.tower(x)
        x = resize(x, (2 * x.size(2), 2 * x.size(3)))
        return self.bases(self.head(x))
