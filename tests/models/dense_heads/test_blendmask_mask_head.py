"""BlendMaskMaskHead: the mask loss against a direct computation, the
blend of detections, postprocess_masks (rescale, threshold, both
clipping orders), and paste_masks on CPU against mmdet's paste."""

import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import roi_align
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
from mmengine.structures import InstanceData

from mmblend.models import BlendMaskMaskHead
from mmblend.models.dense_heads.blendmask_mask_head import (
    paste_masks,
    postprocess_masks,
)

GN = dict(type='GN', num_groups=4)
K, M, R, S = 2, 3, 8, 8  # bases, attention size, resolution, stride


def make_head(**test_cfg):
    torch.manual_seed(0)
    return BlendMaskMaskHead(
        basis=dict(
            type='ProtoNetBasis',
            in_channels=8,
            in_indices=(0,),
            out_stride=S,
            channels=8,
            refine_channels=8,
            num_convs=1,
            num_bases=K,
            norm_cfg=GN,
        ),
        blender=dict(bottom_resolution=R, attn_size=M),
        test_cfg=test_cfg or None,
    )


def gt(boxes, masks):
    from mmdet.structures.mask import BitmapMasks

    return InstanceData(
        bboxes=torch.tensor(boxes),
        labels=torch.zeros(len(boxes), dtype=torch.long),
        masks=BitmapMasks(masks.numpy(), *masks.shape[1:]),
    )


def test_mask_loss_is_the_weighted_mean_bce_of_the_positives():
    """Each positive: the blender on its GT box with its attention, BCE
    with logits against the GT mask cropped (RoIAlign, aligned) to R x R,
    averaged over pixels; weighted by mask_weights, normalised by their
    sum."""
    head = make_head()
    bases = torch.randn(2, K, 8, 8)
    masks = torch.zeros(2, 64, 64, dtype=torch.uint8)
    masks[0, 8:40, 4:30] = 1
    masks[1, 20:60, 30:62] = 1
    gts = [
        gt([[4.0, 8.0, 30.0, 40.0], [30.0, 20.0, 62.0, 60.0]], masks),
        gt([[0.0, 0.0, 20.0, 20.0]], masks[:1]),
    ]
    infos = [
        InstanceData(
            pos_assigned_gt_inds=torch.tensor([0, 1, 1]),
            attns=torch.randn(3, K * M * M),
            mask_weights=torch.tensor([0.5, 1.0, 0.25]),
        ),
        InstanceData(
            pos_assigned_gt_inds=torch.tensor([0]),
            attns=torch.randn(1, K * M * M),
            mask_weights=torch.tensor([0.8]),
        ),
    ]
    metas = [dict(batch_input_shape=(64, 64))] * 2
    loss = head.loss_by_feat(bases, None, gts, metas, infos)['loss_mask']
    total, wsum = 0.0, 0.0
    for img, (g, info) in enumerate(zip(gts, infos)):
        for a, j, w in zip(
            info.attns, info.pos_assigned_gt_inds, info.mask_weights
        ):
            box = g.bboxes[j]
            roi = torch.cat([torch.tensor([float(img)]), box])[None]
            logits = head.blender(bases, a[None], roi)[0]
            target = roi_align(
                torch.from_numpy(g.masks.masks[j : j + 1]).float()[None],
                torch.cat([torch.zeros(1), box])[None],
                (R, R),
                1.0,
                0,
                'avg',
                True,
            )[0, 0]
            target = (target >= 0.5).float()
            total += w * F.binary_cross_entropy_with_logits(logits, target)
            wsum += w
    torch.testing.assert_close(loss, total / wsum, rtol=1e-5, atol=1e-6)


def test_blend_gives_probabilities_per_image():
    head = make_head()
    bases = torch.randn(2, K, 8, 8)
    res = [
        InstanceData(
            bboxes=torch.tensor([[1.0, 2.0, 30.0, 40.0]]),
            attns=torch.randn(1, K * M * M),
        ),
        InstanceData(
            bboxes=torch.zeros(0, 4), attns=torch.zeros(0, K * M * M)
        ),
        InstanceData(
            bboxes=torch.tensor(
                [[5.0, 5.0, 9.0, 60.0], [0.0, 0.0, 64.0, 64.0]]
            ),
            attns=torch.randn(2, K * M * M),
        ),
    ]
    probs = head.blend(bases[[0, 1, 1]], res)
    assert [p.shape for p in probs] == [(1, R, R), (0, R, R), (2, R, R)]
    roi = torch.tensor([[2.0, 5.0, 5.0, 9.0, 60.0]])
    torch.testing.assert_close(
        probs[2][:1],
        head.blender(bases[[0, 1, 1]], res[2].attns[:1], roi).sigmoid(),
    )


META = dict(scale_factor=(2.0, 2.0), ori_shape=(30, 40), img_shape=(60, 80))


def results(boxes):
    return InstanceData(
        bboxes=torch.tensor(boxes),
        scores=torch.linspace(0.9, 0.5, len(boxes)),
        labels=torch.arange(len(boxes)),
    )


def test_postprocess_rescales_and_pastes_in_mmdets_order():
    probs = torch.rand(2, R, R)
    r = postprocess_masks(
        results([[10.0, 20.0, 50.0, 60.0], [0.0, 0.0, 80.0, 60.0]]),
        probs,
        META,
        rescale=True,
    )
    assert torch.equal(
        r.bboxes,
        torch.tensor([[5.0, 10.0, 25.0, 30.0], [0.0, 0.0, 40.0, 30.0]]),
    )
    assert torch.equal(r.masks, paste_masks(probs, r.bboxes, 30, 40, 0.5))
    r = postprocess_masks(
        results([[10.0, 20.0, 50.0, 60.0]]),
        probs[:1],
        META,
        rescale=False,
        test_cfg=dict(mask_thr=0.8),
    )
    assert r.masks.shape == (1, 60, 80)
    assert torch.equal(r.masks, paste_masks(probs[:1], r.bboxes, 60, 80, 0.8))


def test_postprocess_after_the_blender_clips_drops_and_pastes():
    """clip_after_mask: boxes clipped to the output image, empty ones
    dropped; masks pasted into the clipped box (AdelaiDet) or with the
    unclipped box (paste_unclipped)."""
    probs = torch.rand(3, R, R)
    boxes = [
        [-20.0, 10.0, 30.0, 50.0],  # leaves on the left
        [90.0, 0.0, 120.0, 20.0],  # entirely right of the image
        [40.0, -10.0, 100.0, 70.0],
    ]  # leaves on three sides
    r = postprocess_masks(
        results(boxes), probs, META, True, dict(clip_after_mask=True)
    )
    assert torch.equal(r.labels, torch.tensor([0, 2]))
    assert torch.equal(
        r.bboxes,
        torch.tensor([[0.0, 5.0, 15.0, 25.0], [20.0, 0.0, 40.0, 30.0]]),
    )
    assert torch.equal(
        r.masks, paste_masks(probs[[0, 2]], r.bboxes, 30, 40, 0.5)
    )
    u = postprocess_masks(
        results(boxes),
        probs,
        META,
        True,
        dict(clip_after_mask=True, paste_unclipped=True),
    )
    assert torch.equal(u.bboxes, r.bboxes)
    unclipped = torch.tensor(
        [[-10.0, 5.0, 15.0, 25.0], [20.0, -5.0, 50.0, 35.0]]
    )
    assert torch.equal(
        u.masks, paste_masks(probs[[0, 2]], unclipped, 30, 40, 0.5)
    )
    assert not torch.equal(u.masks, r.masks)
    with pytest.raises(ValueError, match='clip_after_mask=True'):
        postprocess_masks(
            results(boxes), probs, META, True, dict(paste_unclipped=True)
        )


@pytest.mark.parametrize('threshold', [0.5, 0.3])
def test_paste_on_cpu_is_mmdets_paste_box_by_box(threshold):
    """Boxes of every size (sub-pixel to larger than the image), fractional,
    crossing each border: the same masks as mmdet's ``_do_paste_mask``
    (``skip_empty=True``) called on each box alone."""
    g = torch.Generator().manual_seed(0)
    H, W, n = 37, 53, 60
    xy = torch.rand(n, 2, generator=g) * torch.tensor([W + 20, H + 20]) - 10
    wh = torch.rand(n, 2, generator=g) ** 3 * torch.tensor([2 * W, 2 * H])
    boxes = torch.cat([xy, xy + wh + 0.01], 1)
    probs = torch.rand(n, 7, 7, generator=g)
    masks = paste_masks(probs, boxes, H, W, threshold)
    want = torch.zeros_like(masks)
    for i in range(n):
        x0, y0, x1, y1 = boxes[i].tolist()
        outside = x1 <= max(x0, 0) or x0 >= min(x1, W)
        if outside or y1 <= max(y0, 0) or y0 >= min(y1, H):
            continue  # empty masks: test_mask_head_invalid_boxes.py
        m, region = _do_paste_mask(probs[i, None, None], boxes[i, None], H, W)
        want[(i,) + region] = m[0] >= threshold
    assert want.any(dim=(1, 2)).sum() >= n // 3  # many boxes draw something
    assert torch.equal(masks, want)
