"""BlendRoIMaskHead: its forward is the blender on the bases with the
attentions it predicts from the RoI features, at any attention size (in Mask
R-CNN and Cascade Mask R-CNN: tests/models/roi_heads/)."""

import torch
from mmdet.registry import MODELS


def test_mask_head_math_matches_the_blender():
    """forward = blender(bases, attentions from the RoI features, rois):
    logits, for one basis as for four."""
    for k in (4, 1):
        head = MODELS.build(
            dict(
                type='BlendRoIMaskHead',
                in_channels=8,
                attn_conv_channels=8,
                basis=dict(
                    type='DeepLabV3PlusBasis',
                    in_channels=8,
                    in_indices=(1, 3),
                    channels=16,
                    low_level_channels=8,
                    num_bases=k,
                    norm_cfg=dict(type='GN', num_groups=4),
                ),
                blender=dict(attn_size=14, bottom_resolution=28),
            )
        )
        head.init_weights()
        g = torch.Generator().manual_seed(k)
        feats = torch.randn(3, 8, 14, 14, generator=g)
        bases = torch.randn(1, k, 16, 16, generator=g)
        rois = torch.tensor(
            [[0, 4.0, 8, 60, 90], [0, 30, 30, 120, 70], [0, 0, 0, 128, 128]]
        )
        out = head(feats, bases, rois)
        assert out.shape == (3, 1, 28, 28)
        attns = head.predict_attentions(feats)
        assert attns.shape == (3, k * 14 * 14)
        torch.testing.assert_close(out[:, 0], head.blender(bases, attns, rois))


def test_attention_size_other_than_roi_size():
    head = MODELS.build(
        dict(
            type='BlendRoIMaskHead',
            in_channels=8,
            attn_conv_channels=8,
            basis=dict(
                type='DeepLabV3PlusBasis',
                in_channels=8,
                in_indices=(1, 3),
                channels=16,
                low_level_channels=8,
                norm_cfg=dict(type='GN', num_groups=4),
            ),
            blender=dict(attn_size=7, bottom_resolution=28),
        )
    )
    feats = torch.randn(2, 8, 14, 14)
    attns = head.predict_attentions(feats)
    maps = head.conv_logits(head.convs[1](head.convs[0](feats)))
    torch.testing.assert_close(
        attns, torch.nn.functional.avg_pool2d(maps, 2).flatten(1)
    )
