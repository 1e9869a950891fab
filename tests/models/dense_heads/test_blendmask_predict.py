"""BlendMask's predictions against a literal computation from the heads' raw
outputs, in both clipping orders, on real photos whose boxes leave the
image (they replace a comparison with values dumped on one machine).

* ``clip_after_mask=True`` (AdelaiDet: FCOS ``forward_for_single_feature_map``
  + ``select_over_all_levels``, the blender, detectron2's
  ``detector_postprocess``): per level ``sigmoid(cls) * sigmoid(ctr) >
  score_thr``, top ``nms_pre``, boxes **unclipped**; class-aware NMS on the
  sqrt scores, top ``max_per_img``; the blender crops the unclipped boxes;
  then the boxes are scaled to the photo, clipped, the empty ones dropped,
  and each mask is pasted into its clipped box (``paste_unclipped``: with
  its unclipped box).
* ``clip_after_mask=False`` (mmdet's order): boxes clipped to the image when
  decoded, empty ones dropped (``min_bbox_size=0``), then the same NMS,
  cut, blender and pasting into the (clipped) box.

Detections are compared by matching (label and box IoU), so near-ties that
another CPU breaks the other way do not matter.
"""

import os.path as osp

import pytest
import torch
from mmcv.ops import batched_nms
from mmdet.apis import init_detector
from mmengine.config import Config

from mmblend.deploy.matching import cut_intervals, match_detections
from mmblend.deploy.preprocess import Preprocessor
from mmblend.models.dense_heads.blendmask_mask_head import paste_masks

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
PHOTOS = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'images', 'train2017')


def build(clip_after_mask, paste_unclipped=False, scale=(256, 192)):
    cfg = Config.fromfile(
        osp.join(REPO, 'tests/configs/blendmask_tiny_coco128.py')
    )
    cfg.model.test_cfg.update(
        score_thr=0.0,
        clip_after_mask=clip_after_mask,
        paste_unclipped=paste_unclipped,
    )
    if clip_after_mask:
        cfg.model.test_cfg.min_bbox_size = -1  # AdelaiDet has none
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = scale
    torch.manual_seed(0)
    model = init_detector(cfg, None, device='cpu')
    for mod in model.modules():  # He-scaled: spread scores
        if isinstance(mod, torch.nn.Conv2d):
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            torch.nn.init.normal_(mod.weight, std=(2 / fan_in) ** 0.5)
    # boxes of at least 4 strides to each side: those near a border leave
    # the image
    torch.nn.init.constant_(model.bbox_head.conv_reg.bias, 4.0)
    return cfg, model.eval()


def reference(model, inputs, sample):
    """AdelaiDet's or mmdet's inference, written out from the raw outputs:
    returns (boxes before clipping, scores, labels, masks, unclipped boxes
    at the photo scale)."""
    head, blender = model.bbox_head, model.mask_head.blender
    cfg = model.test_cfg
    clip_first = not cfg.get('clip_after_mask', False)
    x = model.extract_feat(inputs)
    towers, cls, reg, ctr = head(x)
    bases = model.mask_head(x)[0]
    img_h, img_w = sample.metainfo['img_shape']
    sizes = [c.shape[-2:] for c in cls]
    points = head.prior_generator.grid_priors(sizes, device='cpu')
    boxes, scores, labels, attns, pts = [], [], [], [], []
    for lvl, (c, r, t, p) in enumerate(zip(cls, reg, ctr, points)):
        C = c.shape[1]
        prob = c[0].sigmoid() * t[0].sigmoid()  # [C, H, W]
        prob = prob.permute(1, 2, 0).reshape(-1)  # location-major
        keep = (prob > cfg.score_thr).nonzero().squeeze(1)
        top = prob[keep].argsort(descending=True)[: cfg.nms_pre]
        keep = keep[top]
        loc, label = keep // C, keep % C
        d = r[0].permute(1, 2, 0).reshape(-1, 4)[loc]
        pt = p[loc]
        b = torch.stack(
            [
                pt[:, 0] - d[:, 0],
                pt[:, 1] - d[:, 1],
                pt[:, 0] + d[:, 2],
                pt[:, 1] + d[:, 3],
            ],
            1,
        )
        if clip_first:
            b = torch.stack(
                [
                    b[:, 0].clamp(0, img_w),
                    b[:, 1].clamp(0, img_h),
                    b[:, 2].clamp(0, img_w),
                    b[:, 3].clamp(0, img_h),
                ],
                1,
            )
        boxes.append(b)
        scores.append(prob[keep].sqrt())
        labels.append(label)
        attns.append(head.top_layer(towers[lvl])[0].flatten(1).t()[loc])
        pts.append(pt)
    boxes, scores = torch.cat(boxes), torch.cat(scores)
    labels, attns, pts = torch.cat(labels), torch.cat(attns), torch.cat(pts)
    if clip_first:  # min_bbox_size=0: empty boxes out before NMS
        big = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, labels, attns, pts = (
            boxes[big],
            scores[big],
            labels[big],
            attns[big],
            pts[big],
        )
    _, keep = batched_nms(boxes, scores, labels, cfg.nms)
    keep = keep[: cfg.max_per_img]
    boxes, scores, labels, attns, pts = (
        boxes[keep],
        scores[keep],
        labels[keep],
        attns[keep],
        pts[keep],
    )
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
    probs = blender(bases, attns, rois).sigmoid()
    sx, sy = sample.metainfo['scale_factor']
    out = boxes / boxes.new_tensor([sx, sy, sx, sy])
    ori_h, ori_w = sample.metainfo['ori_shape']
    clipped = torch.stack(
        [
            out[:, 0].clamp(0, ori_w),
            out[:, 1].clamp(0, ori_h),
            out[:, 2].clamp(0, ori_w),
            out[:, 3].clamp(0, ori_h),
        ],
        1,
    )
    nonempty = (clipped[:, 2] > clipped[:, 0]) & (
        clipped[:, 3] > clipped[:, 1]
    )
    paste = out if cfg.get('paste_unclipped', False) else clipped
    masks = paste_masks(probs[nonempty], paste[nonempty], ori_h, ori_w, 0.5)
    return dict(
        bboxes=clipped[nonempty],
        scores=scores[nonempty],
        labels=labels[nonempty],
        masks=masks,
        unclipped=out,
        points=pts,
    )


def compare(model, cfg, photo):
    inputs, sample = Preprocessor(cfg)(osp.join(PHOTOS, photo))
    with torch.no_grad():
        ref = reference(model, inputs, sample)
        got = model.predict(inputs, [sample])[0].pred_instances
    match = match_detections(
        ref,
        got,
        box_rtol=1e-4,
        score_atol=1e-5,
        score_intervals=cut_intervals(ref, got, 100),
        names=('reference', 'BlendMask'),
    )
    assert match.ok, '\n'.join(match.problems)
    return ref, got, match, sample


# 034: 640x425 (boxes leave left/right/bottom); 073: 565x640 (top/bottom)
@pytest.mark.parametrize('photo', ['000000000034.jpg', '000000000073.jpg'])
@pytest.mark.parametrize('order', ['adelaidet', 'consistent', 'mmdet'])
def test_predictions_follow_the_configured_clip_order(photo, order):
    cfg, model = build(order != 'mmdet', paste_unclipped=order == 'consistent')
    ref, got, match, sample = compare(model, cfg, photo)
    assert len(match.pairs) >= len(got) - 2
    h, w = sample.metainfo['ori_shape']
    out = ref['unclipped']
    if order != 'mmdet':
        # the blender and NMS saw boxes leaving the image on every side
        assert (out[:, 0] < 0).any() and (out[:, 1] < 0).any()
        assert (out[:, 2] > w).any() and (out[:, 3] > h).any()
    assert (got.bboxes[:, 0::2] <= w).all() and (
        got.bboxes[:, 1::2] <= h
    ).all()
    assert (got.bboxes >= 0).all()


def test_the_orders_differ_at_the_border():
    """The same weights give other masks (and lists) in the two orders, so
    the test above can tell them apart; inside the image they agree."""
    photo = '000000000034.jpg'
    cfg_a, adelaidet = build(True)
    cfg_m, mmdet_order = build(False)
    inputs, sample = Preprocessor(cfg_a)(osp.join(PHOTOS, photo))
    with torch.no_grad():
        a = adelaidet.predict(inputs, [sample])[0].pred_instances
        m = mmdet_order.predict(inputs, [sample])[0].pred_instances
    match = match_detections(a, m, mask_tol=0.02)
    assert not match.ok


def test_550_padding_candidates():
    """BlendMask-550 (AdelaiDet zoo) pads a 550-px photo: locations in the
    padding give candidates whose boxes are clipped (or dropped when they
    lie entirely outside) only after NMS, the top-100 cut and the blender,
    as in AdelaiDet. The tiny model with the zoo's test settings and
    pipeline."""
    zoo = Config.fromfile(
        osp.join(
            REPO,
            'configs/adelaidet_zoo/blendmask_r50-caffe_fpn_ms-550-3x_coco.py',
        )
    )
    assert zoo.model.test_cfg.clip_after_mask
    assert zoo.model.test_cfg.min_bbox_size == -1
    cfg, model = build(True)
    model.test_cfg.update(zoo.model.test_cfg, score_thr=0.0)
    model.mask_head.test_cfg = model.test_cfg
    cfg.test_dataloader = zoo.test_dataloader
    ref, got, match, sample = compare(model, cfg, '000000000073.jpg')
    img_h, img_w = sample.metainfo['img_shape']
    assert min(img_h, img_w) == 550
    assert (img_h, img_w) != tuple(sample.metainfo['batch_input_shape'])
    pts = ref['points']
    assert ((pts[:, 0] >= img_w) | (pts[:, 1] >= img_h)).any()
