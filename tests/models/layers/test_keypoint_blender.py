"""KeypointBlender (shapes and the blend against a direct loop), the
heatmap targets against hand computations, and the decoding of synthetic
heatmaps with known peaks."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmblend.models.layers import (
    KeypointBlender,
    heatmaps_to_keypoints,
    keypoint_targets,
)

J = 5


@pytest.mark.parametrize(
    'shared_bases,shared_attention,bases,channels',
    [
        (False, True, J * 3, 3 * 4 * 4),  # keypoint bases, one attention
        (
            True,
            False,
            3,
            J * 3 * 4 * 4,
        ),  # shared bases, attention per keypoint
        (False, False, J * 3, J * 3 * 4 * 4),  # both per keypoint
    ],
)
def test_merge_equals_a_direct_loop(
    shared_bases, shared_attention, bases, channels
):
    torch.manual_seed(0)
    blender = KeypointBlender(
        num_bases=bases,
        num_keypoints=J,
        shared_bases=shared_bases,
        shared_attention=shared_attention,
        attn_size=4,
        bottom_resolution=8,
        top_interp='bilinear',
    )
    assert blender.bases_per_keypoint == 3
    assert blender.attn_channels == channels
    n, K, M, R = 2, 3, 4, 8
    crops = torch.randn(n, bases, R, R)
    attns = torch.randn(n, channels)
    out = blender.merge(crops, attns)
    assert out.shape == (n, J, R, R)
    for i in range(n):
        for j in range(J):
            b = 0 if shared_bases else j
            a = 0 if shared_attention else j
            att = attns[i].view(-1, K, M, M)[a]
            att = F.interpolate(
                att[None], (R, R), mode='bilinear', align_corners=False
            )[0].softmax(0)
            expected = (crops[i, b * K : (b + 1) * K] * att).sum(0)
            torch.testing.assert_close(out[i, j], expected)


def test_forward_crops_then_merges_and_handles_no_box():
    blender = KeypointBlender(
        num_bases=J * 2,
        num_keypoints=J,
        attn_size=2,
        bottom_resolution=6,
        bases_stride=4,
    )
    bases = torch.randn(1, J * 2, 10, 10, requires_grad=True)
    rois = torch.tensor([[0, 4.0, 4.0, 28.0, 36.0]])
    attns = torch.randn(1, blender.attn_channels)
    out = blender(bases, attns, rois)
    assert out.shape == (1, J, 6, 6)
    torch.testing.assert_close(
        out, blender.merge(blender.crop(bases, rois), attns)
    )
    empty = blender(bases, attns[:0], rois[:0])
    assert empty.shape == (0, J, 6, 6)


def test_invalid_designs_are_refused():
    with pytest.raises(ValueError, match='same heatmap'):
        KeypointBlender(
            num_bases=4,
            num_keypoints=J,
            shared_bases=True,
            shared_attention=True,
        )
    with pytest.raises(ValueError, match='multiple of 5'):
        KeypointBlender(num_bases=12, num_keypoints=J)
    with pytest.raises(ValueError, match='at least 2 bases'):
        KeypointBlender(num_bases=J, num_keypoints=J)
    blender = KeypointBlender(num_bases=J * 2, num_keypoints=J, attn_size=2)
    with pytest.raises(ValueError, match='attns must have shape'):
        blender.merge(torch.zeros(1, J * 2, 4, 4), torch.zeros(1, 3))


def test_targets_by_hand():
    # box 40 x 40 at (10, 20), R = 4: 10 px per cell
    boxes = torch.tensor([[10.0, 20.0, 50.0, 60.0]])
    kps = torch.tensor(
        [
            [
                [30.0, 25.0, 2],  # cell (x 2, y 0)
                [50.0, 60.0, 1],  # on the right/bottom edge: last cell
                [10.0, 20.0, 2],  # top-left corner: cell 0
                [60.0, 30.0, 2],  # right of the box
                [30.0, 25.0, 0],  # unlabelled
                [49.9, 59.9, 2],  # cell (3, 3)
            ]
        ]
    )
    index, valid = keypoint_targets(kps, boxes, 4)
    assert valid.tolist() == [[True, True, True, False, False, True]]
    assert index[0, valid[0]].tolist() == [0 * 4 + 2, 15, 0, 15]
    assert index[0, 3] == 0 and index[0, 4] == 0


def test_decoding_a_one_hot_peak_at_box_resolution():
    # a box of exactly R x R pixels: no resampling, the peak cell's centre
    R = 8
    maps = torch.zeros(1, 2, R, R)
    maps[0, 0, 5, 2] = 10.0
    maps[0, 1, 0, 7] = 3.0
    kps, scores = heatmaps_to_keypoints(
        maps, torch.tensor([[100.0, 50.0, 108.0, 58.0]])
    )
    torch.testing.assert_close(
        kps[0], torch.tensor([[102.5, 55.5], [107.5, 50.5]])
    )
    # softmax at the peak over the R x R map
    expected = [
        1 / (math.exp(0) + (R * R - 1) * math.exp(-v)) for v in (10.0, 3.0)
    ]
    torch.testing.assert_close(scores[0], torch.tensor(expected))


def test_decoding_a_smooth_peak_gives_the_point_within_a_pixel():
    # a Gaussian bump of logits centred at a known sub-cell position of a
    # 60 x 45 px box, on a 14 x 14 heatmap (cells of 4.3 x 3.2 px), away
    # from the box border (bicubic upsampling replicates the edge cells)
    R, (x1, y1, w, h) = 14, (20.0, 30.0, 60.0, 45.0)
    truths = torch.tensor([[41.3, 47.9], [29.0, 70.2], [66.6, 33.9]])
    u = (torch.arange(R) + 0.5) / R  # cell centres, box fractions
    maps = []
    for x, y in truths:
        fx, fy = (x - x1) / w, (y - y1) / h
        maps.append(-((u[None, :] - fx) ** 2 + (u[:, None] - fy) ** 2) / 0.01)
    maps = torch.stack(maps)[None]
    kps, scores = heatmaps_to_keypoints(
        maps, torch.tensor([[x1, y1, x1 + w, y1 + h]])
    )
    assert (kps[0] - truths).abs().max() < 1.0, kps[0] - truths
    assert ((scores > 0) & (scores <= 1)).all()


def test_decoding_no_detection():
    kps, scores = heatmaps_to_keypoints(
        torch.zeros(0, J, 8, 8), torch.zeros(0, 4)
    )
    assert kps.shape == (0, J, 2) and scores.shape == (0, J)
