"""BlendHostMixin on one host (FCOS, small): the box towers it returns are
the inputs of the host's box-tower layer, the top layer at chosen priors
equals the dense top layer there (over levels), no top layer with 0
channels, FCOS centerness by hand, and the refusals (the mechanism on every
host: tests/models/dense_heads/test_blend_hosts.py)."""

import pytest
import torch
from mmdet.registry import MODELS

from mmblend.models.dense_heads.blend_host_mixin import centerness


def fcos(attn_channels=2 * 3 * 3):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='BlendFCOSHead',
            num_classes=3,
            in_channels=8,
            feat_channels=8,
            stacked_convs=1,
            strides=[8, 16],
            regress_ranges=((-1, 64), (64, 1e8)),
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
            attn_channels=attn_channels,
        )
    )


def test_box_towers_and_attentions_at_priors():
    head = fcos()
    x = (torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4))
    seen = []
    head.conv_reg.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    box_towers, cls_scores, *_ = head(x)
    # the reg tower's output: what the host's conv_reg reads on each level
    assert len(seen) == 2
    assert all(torch.equal(t, s) for t, s in zip(box_towers, seen))
    assert [t.shape for t in box_towers] == [(1, 8, 8, 8), (1, 8, 4, 4)]
    assert [c.shape[-2:] for c in cls_scores] == [(8, 8), (4, 4)]
    # flat prior index over both levels: level 0 has 64 rows
    inds = torch.tensor([0, 63, 64, 64 + 15, 9])
    attns = head.attns_at([t[0] for t in box_towers], inds)
    dense = [head.top_layer(t)[0].flatten(1).t() for t in box_towers]
    expected = torch.stack(
        [dense[0][0], dense[0][63], dense[1][0], dense[1][15], dense[0][9]]
    )
    torch.testing.assert_close(attns, expected, rtol=1e-5, atol=1e-6)


def test_no_top_layer_and_no_positives_before_a_loss():
    head = fcos(attn_channels=0)
    assert head.top_layer is None
    towers = [torch.randn(8, 8, 8), torch.randn(8, 4, 4)]
    assert head.attns_at(towers, torch.tensor([1, 70])).shape == (2, 0)
    with pytest.raises(RuntimeError, match='needs a loss'):
        head.get_positive_infos()


def test_centerness_by_hand():
    ltrb = torch.tensor(
        [
            [2.0, 2.0, 2.0, 2.0],
            [1.0, 2.0, 3.0, 4.0],
            [-1.0, 2.0, 3.0, 4.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    expected = torch.tensor([1.0, (1 / 3 * 2 / 4) ** 0.5, 0.0, 0.0])
    torch.testing.assert_close(centerness(ltrb), expected)


def test_a_host_that_selects_otherwise_is_refused_when_built():
    """mmdet's CenterNet picks its detections with its own top-k on the
    heatmap: a Blend host on it cannot record its selection and is refused
    at build time, naming what to override."""
    from mmdet.models.dense_heads import CenterNetHead

    from mmblend.models.dense_heads import (
        BlendHostMixin,
        SamplerPositivesMixin,
    )

    class BlendCenterNetHead(
        SamplerPositivesMixin, BlendHostMixin, CenterNetHead
    ):
        box_tower_consumer = 'wh_head'

    with pytest.raises(
        TypeError,
        match='BlendCenterNetHead.*'
        'filter_scores_and_topk.*selected_prior_inds',
    ):
        BlendCenterNetHead(in_channels=8, feat_channels=8, num_classes=3)
