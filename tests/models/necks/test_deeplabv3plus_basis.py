"""DeepLabV3PlusBasis: bases shapes and strides of every input variant (neck
or backbone levels), and clear errors for indices it cannot read."""

import pytest
import torch

from mmblend.models import DeepLabV3PlusBasis

GN = dict(type='GN', num_groups=4)


def pyramid(H=64, W=96, C=16, strides=(8, 16, 32, 64, 128)):
    return tuple(torch.randn(2, C, H // s, W // s) for s in strides)


@pytest.mark.parametrize(
    'name,kwargs,feats,stride',
    [
        ('P3+P5', dict(in_indices=(0, 2), out_stride=8), pyramid(), 8),
        (
            'P2+P5',
            dict(in_indices=(0, 3), out_stride=4),
            pyramid(strides=(4, 8, 16, 32, 64, 128)),
            4,
        ),
        (
            'C3+C5',
            dict(
                in_indices=(1, 3),
                out_stride=8,
                in_channels=(24, 48),
                feat_source='backbone',
            ),
            (
                torch.randn(2, 12, 16, 24),
                torch.randn(2, 24, 8, 12),
                torch.randn(2, 36, 4, 6),
                torch.randn(2, 48, 2, 3),
            ),
            8,
        ),
    ],
)
def test_deeplab_shapes(name, kwargs, feats, stride):
    kwargs.setdefault('in_channels', 16)
    m = DeepLabV3PlusBasis(
        channels=16, low_level_channels=8, num_bases=4, norm_cfg=GN, **kwargs
    )
    bases, sem = m(feats)
    assert bases.shape == (2, 4, 64 // stride, 96 // stride), name
    assert sem is None and m.out_stride == stride


def test_bad_indices_are_reported():
    m = DeepLabV3PlusBasis(
        in_channels=16, in_indices=(0, 7), channels=16, norm_cfg=GN
    )
    with pytest.raises(ValueError, match='feature indices'):
        m(pyramid())
    with pytest.raises(ValueError, match='two inputs'):
        DeepLabV3PlusBasis(in_indices=(0, 1, 2))
