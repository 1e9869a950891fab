"""ResNetDCNInterval: DCN on every dcn_interval-th block of the DCN stages."""

import pytest
import torch
from mmcv.ops import ModulatedDeformConv2dPack
from mmdet.registry import MODELS

DCN = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)


def build(**kwargs):
    cfg = dict(
        type='ResNetDCNInterval',
        depth=50,
        dcn=DCN,
        stage_with_dcn=(False, True, True, True),
        init_cfg=None,
    )
    cfg.update(kwargs)
    return MODELS.build(cfg)


def dcn_blocks(model):
    """{(stage, block)} whose conv2 is a modulated deformable conv."""
    found = set()
    for i, name in enumerate(model.res_layers):
        for j, blk in enumerate(getattr(model, name)):
            if isinstance(blk.conv2, ModulatedDeformConv2dPack):
                found.add((i, j))
            # only conv2 may be deformable
            assert not isinstance(blk.conv1, ModulatedDeformConv2dPack)
            assert not isinstance(blk.conv3, ModulatedDeformConv2dPack)
    return found


@pytest.mark.parametrize(
    'depth,expected',
    [
        # res3 (stage 1), res4 (stage 2), res5 (stage 3); block index % 3 == 0
        (50, {(1, 0), (1, 3), (2, 0), (2, 3), (3, 0)}),
        (101, {(1, 0), (1, 3), (3, 0)} | {(2, j) for j in range(0, 23, 3)}),
    ],
)
def test_dcn_on_interval_blocks_of_res3_to_res5(depth, expected):
    model = build(depth=depth)
    assert dcn_blocks(model) == expected
    assert all(
        model.dcn_block_indices(s)
        == tuple(sorted(j for (i, j) in expected if i == s))
        for s in range(4)
    )
    if depth == 101:
        assert len(expected) == 11


def test_interval_one_is_mmdet_resnet_and_no_dcn_is_plain():
    model = build(dcn_interval=1)
    ref = MODELS.build(
        dict(
            type='ResNet',
            depth=50,
            dcn=DCN,
            stage_with_dcn=(False, True, True, True),
        )
    )
    assert dcn_blocks(model) == dcn_blocks(ref)
    assert len(dcn_blocks(model)) == 4 + 6 + 3
    assert dcn_blocks(build(dcn=None)) == set()
    # a stage switched off gets none
    assert {
        i
        for i, _ in dcn_blocks(
            build(stage_with_dcn=(False, False, True, False))
        )
    } == {2}


def test_bad_interval():
    with pytest.raises(ValueError, match='dcn_interval'):
        build(dcn_interval=0)


def test_same_parameter_shapes_as_resnet_except_offsets():
    """Pretrained ResNet weights load into it: every non-offset parameter
    has a counterpart of the same shape in mmdet's plain ResNet."""
    model = build()
    plain = MODELS.build(dict(type='ResNet', depth=50))
    ref = dict(plain.named_parameters())
    for name, p in model.named_parameters():
        if '.conv_offset.' in name:
            continue
        assert name in ref and ref[name].shape == p.shape, name
    assert set(ref) <= {n for n, _ in model.named_parameters()}


def test_forward_backward_cpu_shapes():
    torch.manual_seed(0)
    # narrow R-50 so the deformable convs run quickly on CPU
    # (zero_init_residual off: a zero bn3 would block conv2's gradient)
    model = build(
        base_channels=8,
        stem_channels=8,
        frozen_stages=-1,
        norm_eval=False,
        zero_init_residual=False,
    )
    model.init_weights()
    model.train()
    x = torch.randn(2, 3, 64, 96)
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [
        (2, 32, 16, 24),
        (2, 64, 8, 12),
        (2, 128, 4, 6),
        (2, 256, 2, 3),
    ]
    sum(o.mean() for o in outs).backward()
    dcn = model.layer3[3].conv2
    assert isinstance(dcn, ModulatedDeformConv2dPack)
    assert dcn.weight.grad is not None and dcn.weight.grad.abs().sum() > 0
    assert dcn.conv_offset.weight.grad is not None
    # offsets start at zero (mmcv's init), so the DCN starts as a plain conv
    assert dcn.conv_offset.weight.abs().sum() == 0


def test_frozen_stem_and_stage1_still_frozen():
    model = build(frozen_stages=1)
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
