"""ProtoNetBasis (YOLACT's protonet, BlendMask's default bottom module):
bases shapes with one input level or several refined and summed."""

import pytest
import torch

from mmblend.models import ProtoNetBasis

GN = dict(type='GN', num_groups=4)


def pyramid(H=64, W=96, C=16, strides=(8, 16, 32, 64, 128)):
    return tuple(torch.randn(2, C, H // s, W // s) for s in strides)


@pytest.mark.parametrize('in_indices', [(0,), (0, 1, 2)])
def test_protonet_shapes(in_indices):
    m = ProtoNetBasis(
        in_channels=16,
        in_indices=in_indices,
        out_stride=4,
        channels=16,
        refine_channels=8,
        num_convs=2,
        num_bases=5,
        norm_cfg=GN,
    )
    bases, _ = m(pyramid())
    assert bases.shape == (2, 5, 16, 24)
    assert (m.refine is None) == (len(in_indices) == 1)
