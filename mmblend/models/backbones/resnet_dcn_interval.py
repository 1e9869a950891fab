"""ResNet with deformable convs on every ``dcn_interval``-th block
("dcni3")."""

import copy
from typing import Sequence

from mmdet.models.backbones import ResNet
from mmdet.models.layers import ResLayer
from mmdet.registry import MODELS


@MODELS.register_module()
class ResNetDCNInterval(ResNet):
    """mmdet's :class:`ResNet` with DCN on every ``dcn_interval``-th block.

    mmdet's ``dcn``/``stage_with_dcn`` replace conv2 of *all* blocks of a DCN
    stage. AdelaiDet's "dcni3" models (``MODEL.RESNETS.DEFORM_INTERVAL: 3``,
    ``build_resnet_interval_backbone``, following YOLACT++) use the
    deformable conv only in blocks whose index *within their stage* satisfies
    ``i % dcn_interval == 0``; the other blocks of the stage are plain
    bottlenecks. With ``stage_with_dcn=(False, True, True, True)`` (DCN on
    res3-res5, detectron2's ``DEFORM_ON_PER_STAGE``) and interval 3, R-101
    gets DCN in blocks 0,3 of res3, 0,3,...,21 of res4 and 0 of res5
    (2 + 8 + 1 = 11 blocks; R-50: 2 + 2 + 1 = 5).

    ``dcn_interval=1`` is mmdet's ResNet behaviour. Use
    ``dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)`` for
    the modulated DCN (mmcv ``ModulatedDeformConv2dPack``), as
    ``DEFORM_MODULATED: True`` in AdelaiDet.

    Args:
        dcn_interval (int): use DCN on blocks ``i % dcn_interval == 0`` of the
            stages selected by ``stage_with_dcn``. Defaults to 3.
        **kwargs: see :class:`mmdet.models.backbones.ResNet`.
    """

    def __init__(self, *args, dcn_interval: int = 3, **kwargs) -> None:
        if int(dcn_interval) != dcn_interval or dcn_interval < 1:
            raise ValueError(
                f'dcn_interval must be a positive integer, got {dcn_interval}'
            )
        self.dcn_interval = int(dcn_interval)
        super().__init__(*args, **kwargs)

    def dcn_block_indices(self, stage: int) -> Sequence[int]:
        """Indices (within ``stage``, 0-based) of the blocks that use DCN."""
        if self.dcn is None or not self.stage_with_dcn[stage]:
            return ()
        return tuple(range(0, self.stage_blocks[stage], self.dcn_interval))

    def make_res_layer(self, **kwargs) -> ResLayer:
        dcn = kwargs.get('dcn')
        if dcn is None or self.dcn_interval == 1:
            return ResLayer(**kwargs)
        # plain stage, then rebuild every interval-th block with DCN
        layer = ResLayer(**dict(kwargs, dcn=None))
        kw = dict(kwargs)
        block = kw.pop('block')
        inplanes = kw.pop('inplanes')
        planes = kw.pop('planes')
        stride = kw.pop('stride', 1)
        for key in ('num_blocks', 'avg_down', 'downsample_first', 'dcn'):
            kw.pop(key, None)
        for i in range(0, len(layer), self.dcn_interval):
            layer[i] = block(
                inplanes=inplanes if i == 0 else planes * block.expansion,
                planes=planes,
                stride=stride if i == 0 else 1,
                downsample=layer[i].downsample,
                # Bottleneck pops 'fallback_on_stride' from its dcn dict
                dcn=copy.deepcopy(dcn),
                **kw,
            )
        return layer
