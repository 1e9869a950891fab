"""Detections whose box has no area in the image (entirely outside it,
inverted, or non-finite, as a host that does not clip its boxes, e.g.
YOLOX, or a test_cfg without min_bbox_size returns them) get empty masks;
the other detections' masks are unchanged (RoIAlign used to crash on such
boxes: an assertion, or a segmentation fault on non-finite ones)."""

import torch
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmblend.models.dense_heads.blendmask_mask_head import paste_masks

H, W = 48, 64
GOOD = [[4.0, 6.0, 30.0, 40.0], [20.0, 2.0, 60.0, 20.0]]
BAD = [
    [70.0, 10.0, 90.0, 30.0],  # right of the image
    [-30.0, -20.0, -2.0, -1.0],  # above and left of it
    [30.0, 30.0, 10.0, 10.0],  # inverted
    [5.0, 5.0, float('inf'), 20.0],
    [float('nan'), 5.0, 20.0, 20.0],
]


def mask_head():
    torch.manual_seed(0)
    return MODELS.build(
        ConfigDict(
            type='BlendMaskMaskHead',
            basis=dict(
                type='DeepLabV3PlusBasis',
                in_channels=8,
                in_indices=(0, 2),
                out_stride=8,
                channels=8,
                low_level_channels=8,
                num_bases=2,
                norm_cfg=dict(type='GN', num_groups=2, requires_grad=True),
            ),
            blender=dict(
                type='Blender', num_bases=2, attn_size=2, bottom_resolution=8
            ),
            test_cfg=dict(mask_thr=0.5),
        )
    ).eval()


def predict(head, boxes, attns, bases):
    n = len(boxes)
    results = InstanceData(
        bboxes=torch.tensor(boxes),
        attns=attns[:n],
        scores=torch.ones(n),
        labels=torch.zeros(n, dtype=torch.long),
    )
    meta = dict(
        img_shape=(H, W),
        ori_shape=(H, W),
        scale_factor=(1.0, 1.0),
        batch_input_shape=(H, W),
    )
    with torch.no_grad():
        return head.predict_by_feat(
            bases, None, [results], [meta], rescale=True
        )[0]


def test_boxes_without_area_in_the_image_get_empty_masks():
    head = mask_head()
    bases = torch.randn(1, 2, H // 8, W // 8) * 4
    attns = torch.randn(len(GOOD) + len(BAD), 8)
    good = predict(head, GOOD, attns, bases)
    assert good.masks.flatten(1).any(dim=1).all()
    mixed = predict(head, GOOD + BAD, attns, bases)
    assert mixed.masks.shape == (len(GOOD) + len(BAD), H, W)
    assert torch.equal(mixed.masks[: len(GOOD)], good.masks)
    assert not mixed.masks[len(GOOD) :].any()


def test_paste_skips_boxes_without_area_in_the_image():
    probs = torch.ones(len(BAD) + 1, 8, 8)
    masks = paste_masks(probs, torch.tensor(BAD + GOOD[:1]), H, W)
    assert not masks[: len(BAD)].any()
    inside = masks[-1, 6:40, 4:30]  # the good box: filled, nothing else
    assert inside[1:-1, 1:-1].all() and masks[-1].sum() == inside.sum()
