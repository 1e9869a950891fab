"""BaseBasisModule's auxiliary semantic head (through its two subclasses):
its logits, loss and targets built from GT masks (bitmaps and polygons);
it refuses inputs it would silently mis-train on: a level of the wrong
stride, and a backbone level whose width the head was not built for
(``feat_source='backbone'``); its norm can differ from the bases'
(AdelaiDet: BN there, SyncBN in the bases)."""

import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData

from mmblend.models import (
    DeepLabV3PlusBasis,
    ProtoNetBasis,
    build_semantic_targets,
)

GN = dict(type='GN', num_groups=4)
H, W = 64, 96


def gts():
    masks = np.zeros((1, H, W), np.uint8)
    masks[0, 8:40, 16:64] = 1
    return [
        InstanceData(labels=torch.tensor([2]), masks=BitmapMasks(masks, H, W))
    ] * 2


def pyramid(C=16, strides=(4, 8, 16, 32, 64)):
    return tuple(torch.randn(2, C, H // s, W // s) for s in strides)


def backbone_feats():  # C2..C5 of different widths
    return tuple(
        torch.randn(2, c, H // s, W // s)
        for c, s in ((8, 4), (24, 8), (36, 16), (48, 32))
    )


def test_semantic_input_at_the_wrong_stride_is_an_error():
    # FPN P2..P6: sem_in_index=0 is P2 (stride 4), not the stride-8 level
    m = DeepLabV3PlusBasis(
        in_channels=16,
        in_indices=(0, 3),
        out_stride=4,
        channels=16,
        num_classes=3,
        sem_channels=8,
        sem_in_index=0,
        norm_cfg=GN,
    ).train()
    _, sem = m(pyramid())
    assert sem.shape[-2:] == (H // 4, W // 4)
    with pytest.raises(
        ValueError,
        match=r'stride ~4.*sem_stride=8.*'
        r'sem_in_index=0',
    ):
        m.loss_semantic(sem, gts(), (H, W))
    # P3 is index 1 there: trains
    m = DeepLabV3PlusBasis(
        in_channels=16,
        in_indices=(0, 3),
        out_stride=4,
        channels=16,
        num_classes=3,
        sem_channels=8,
        sem_in_index=1,
        norm_cfg=GN,
    ).train()
    _, sem = m(pyramid())
    loss = m.loss_semantic(sem, gts(), (H, W))
    assert torch.isfinite(loss) and loss > 0


def test_backbone_source_needs_the_semantic_input_named():
    kw = dict(
        in_channels=(24, 48),
        in_indices=(1, 3),
        out_stride=8,
        channels=16,
        low_level_channels=8,
        feat_source='backbone',
        num_classes=3,
        sem_channels=8,
        norm_cfg=GN,
    )
    # default sem_in_index=0 is C2, whose width is unknown: clear error
    with pytest.raises(ValueError, match='sem_in_channels.*sem_in_index'):
        DeepLabV3PlusBasis(**kw)
    # C3 (index 1, stride 8): works end to end
    m = DeepLabV3PlusBasis(sem_in_index=1, **kw).train()
    bases, sem = m(backbone_feats())
    assert bases.shape == (2, 4, H // 8, W // 8)
    assert sem.shape == (2, 4, H // 8, W // 8)
    loss = m.loss_semantic(sem, gts(), (H, W))
    assert torch.isfinite(loss) and loss > 0
    # a wrong sem_in_channels is reported by key, not by a conv traceback
    m = DeepLabV3PlusBasis(sem_in_index=1, sem_in_channels=12, **kw).train()
    with pytest.raises(
        ValueError, match='built for 12 input channels.*has 24'
    ):
        m(backbone_feats())
    # C2 with its width given builds, and then fails the stride check
    m = DeepLabV3PlusBasis(sem_in_index=0, sem_in_channels=8, **kw).train()
    _, sem = m(backbone_feats())
    with pytest.raises(ValueError, match='sem_stride=8'):
        m.loss_semantic(sem, gts(), (H, W))
    with pytest.raises(ValueError, match='sem_in_index=7.*4 backbone levels'):
        DeepLabV3PlusBasis(sem_in_index=7, sem_in_channels=8, **kw).train()(
            backbone_feats()
        )


def test_semantic_norm_can_differ_from_the_bases():
    m = ProtoNetBasis(
        in_channels=16,
        in_indices=(1, 2, 3),
        out_stride=4,
        channels=16,
        refine_channels=16,
        num_convs=1,
        num_classes=3,
        sem_in_index=1,
        sem_channels=8,
        norm_cfg=GN,
        sem_norm_cfg=dict(type='BN'),
    )
    assert isinstance(m.sem_convs[0].norm, torch.nn.BatchNorm2d)
    assert isinstance(m.tower[0].norm, torch.nn.GroupNorm)
    default = ProtoNetBasis(
        in_channels=16,
        in_indices=(1, 2, 3),
        channels=16,
        refine_channels=16,
        num_convs=1,
        num_classes=3,
        sem_in_index=1,
        sem_channels=8,
        norm_cfg=GN,
    )
    assert isinstance(default.sem_convs[0].norm, torch.nn.GroupNorm)


def test_semantic_head_and_loss():
    m = DeepLabV3PlusBasis(
        in_channels=16, channels=16, num_classes=3, sem_channels=8, norm_cfg=GN
    ).train()
    feats = pyramid(strides=(8, 16, 32, 64, 128))
    _, sem = m(feats)
    assert sem.shape == (2, 4, 8, 12)
    masks = np.zeros((1, 64, 96), np.uint8)
    masks[0, 8:40, 16:64] = 1
    gts = [
        InstanceData(
            labels=torch.tensor([2]), masks=BitmapMasks(masks, 64, 96)
        ),
        InstanceData(
            labels=torch.zeros(0, dtype=torch.long),
            masks=BitmapMasks(np.zeros((0, 64, 96)), 64, 96),
        ),
    ]
    loss = m.loss_semantic(sem, gts, (64, 96))
    assert torch.isfinite(loss) and loss > 0
    m.eval()
    assert m(feats)[1] is None  # no semantic work at inference


def test_semantic_targets_from_masks():
    H, W = 32, 48
    big = np.zeros((H, W), np.uint8)
    big[0:24, 0:32] = 1
    small = np.zeros((H, W), np.uint8)
    small[8:16, 8:16] = 1
    gt = InstanceData(
        labels=torch.tensor([5, 1]),
        masks=BitmapMasks(np.stack([small, big]), H, W),
    )
    t = build_semantic_targets([gt], (H, W), 8, num_classes=7)
    assert t.shape == (1, 4, 6)
    # centre samples at 4, 12, 20, 28 (rows) and 4, 12, ... (cols)
    expected = torch.full((4, 6), 7)
    expected[0:3, 0:4] = 1  # big object (label 1)
    expected[1, 1] = 5  # small object painted on top of the big one
    assert torch.equal(t[0], expected)
    # polygons give the same labels
    poly = PolygonMasks(
        [
            [np.array([8, 8, 16, 8, 16, 16, 8, 16.0])],
            [np.array([0, 0, 32, 0, 32, 24, 0, 24.0])],
        ],
        H,
        W,
    )
    t2 = build_semantic_targets(
        [InstanceData(labels=torch.tensor([5, 1]), masks=poly)], (H, W), 8, 7
    )
    assert torch.equal(t2, t)
