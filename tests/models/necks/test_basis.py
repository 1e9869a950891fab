"""Bottom modules: shapes and strides of every input variant, semantic
targets built from GT masks."""
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


def pyramid(H=64, W=96, C=16, strides=(8, 16, 32, 64, 128)):
    return tuple(torch.randn(2, C, H // s, W // s) for s in strides)


@pytest.mark.parametrize('name,kwargs,feats,stride', [
    ('P3+P5', dict(in_indices=(0, 2), out_stride=8), pyramid(), 8),
    ('P2+P5', dict(in_indices=(0, 3), out_stride=4),
     pyramid(strides=(4, 8, 16, 32, 64, 128)), 4),
    ('C3+C5', dict(in_indices=(1, 3), out_stride=8, in_channels=(24, 48),
                   feat_source='backbone'),
     (torch.randn(2, 12, 16, 24), torch.randn(2, 24, 8, 12),
      torch.randn(2, 36, 4, 6), torch.randn(2, 48, 2, 3)), 8),
])
def test_deeplab_shapes(name, kwargs, feats, stride):
    kwargs.setdefault('in_channels', 16)
    m = DeepLabV3PlusBasis(channels=16, low_level_channels=8, num_bases=4,
                           norm_cfg=GN, **kwargs)
    bases, sem = m(feats)
    assert bases.shape == (2, 4, 64 // stride, 96 // stride), name
    assert sem is None and m.out_stride == stride


@pytest.mark.parametrize('in_indices', [(0, ), (0, 1, 2)])
def test_protonet_shapes(in_indices):
    m = ProtoNetBasis(in_channels=16, in_indices=in_indices, out_stride=4,
                      channels=16, refine_channels=8, num_convs=2,
                      num_bases=5, norm_cfg=GN)
    bases, _ = m(pyramid())
    assert bases.shape == (2, 5, 16, 24)
    assert (m.refine is None) == (len(in_indices) == 1)


def test_semantic_head_and_loss():
    m = DeepLabV3PlusBasis(in_channels=16, channels=16, num_classes=3,
                           sem_channels=8, norm_cfg=GN).train()
    feats = pyramid()
    _, sem = m(feats)
    assert sem.shape == (2, 4, 8, 12)
    masks = np.zeros((1, 64, 96), np.uint8)
    masks[0, 8:40, 16:64] = 1
    gts = [InstanceData(labels=torch.tensor([2]),
                        masks=BitmapMasks(masks, 64, 96)),
           InstanceData(labels=torch.zeros(0, dtype=torch.long),
                        masks=BitmapMasks(np.zeros((0, 64, 96)), 64, 96))]
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
    gt = InstanceData(labels=torch.tensor([5, 1]),
                      masks=BitmapMasks(np.stack([small, big]), H, W))
    t = build_semantic_targets([gt], (H, W), 8, num_classes=7)
    assert t.shape == (1, 4, 6)
    # centre samples at 4, 12, 20, 28 (rows) and 4, 12, ... (cols)
    expected = torch.full((4, 6), 7)
    expected[0:3, 0:4] = 1  # big object (label 1)
    expected[1, 1] = 5  # small object painted on top of the big one
    assert torch.equal(t[0], expected)
    # polygons give the same labels
    poly = PolygonMasks([[np.array([8, 8, 16, 8, 16, 16, 8, 16.])],
                         [np.array([0, 0, 32, 0, 32, 24, 0, 24.])]], H, W)
    t2 = build_semantic_targets(
        [InstanceData(labels=torch.tensor([5, 1]), masks=poly)], (H, W), 8, 7)
    assert torch.equal(t2, t)


def test_bad_indices_are_reported():
    m = DeepLabV3PlusBasis(in_channels=16, in_indices=(0, 7), channels=16,
                           norm_cfg=GN)
    with pytest.raises(ValueError, match='feature indices'):
        m(pyramid())
    with pytest.raises(ValueError, match='two inputs'):
        DeepLabV3PlusBasis(in_indices=(0, 1, 2))
