"""DetTTAModelWithMasks: views un-flipped (boxes and masks), class-aware NMS,
masks kept with their boxes, panoptic refused."""

import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
H, W = 20, 30
TTA_CFG = dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)


class Dummy(torch.nn.Module):
    """Stands in for the detector: merge_preds never calls it."""

    def test_step(self, data):
        raise AssertionError('not called by merge_preds')


def build(**kw):
    return MODELS.build(
        dict(
            type='DetTTAModelWithMasks',
            tta_cfg=kw.pop('tta_cfg', TTA_CFG),
            module=kw.pop('module', Dummy()),
            **kw,
        )
    )


def box_mask(box, h=H, w=W):
    m = torch.zeros(h, w, dtype=torch.bool)
    x1, y1, x2, y2 = (int(v) for v in box)
    m[y1:y2, x1:x2] = True
    return m


def view(boxes, scores, labels, flip=False, direction='horizontal'):
    """A view's prediction at ori_shape, in the (possibly flipped) frame."""
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    masks = (
        torch.stack([box_mask(b) for b in boxes])
        if len(boxes)
        else torch.zeros(0, H, W, dtype=torch.bool)
    )
    if flip:  # what the detector sees: the flipped image
        if direction == 'horizontal':
            boxes = torch.stack(
                [W - boxes[:, 2], boxes[:, 1], W - boxes[:, 0], boxes[:, 3]], 1
            )
            masks = masks.flip(-1)
        else:
            boxes = torch.stack(
                [boxes[:, 0], H - boxes[:, 3], boxes[:, 2], H - boxes[:, 1]], 1
            )
            masks = masks.flip(-2)
    s = DetDataSample(
        metainfo=dict(
            ori_shape=(H, W),
            img_shape=(H, W),
            flip=flip,
            flip_direction=direction if flip else None,
        )
    )
    s.pred_instances = InstanceData(
        bboxes=boxes,
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.tensor(labels, dtype=torch.long),
        masks=masks,
    )
    return s


@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_flipped_view_is_unflipped_and_merged(direction):
    box = [2.0, 3.0, 12.0, 15.0]  # asymmetric, so a missing unflip shows
    plain = view([box], [0.6], [1])
    flipped = view([box], [0.9], [1], flip=True, direction=direction)
    (merged,) = build().merge_preds([[flipped, plain]])
    assert merged.flip is False  # the meta of the unflipped view
    res = merged.pred_instances
    assert len(res) == 1  # same object twice: one survives NMS
    assert res.scores.tolist() == pytest.approx([0.9])  # the best view's
    torch.testing.assert_close(res.bboxes, torch.tensor([box]))
    assert torch.equal(res.masks[0], box_mask(box))
    assert res.masks.shape == (1, H, W) and res.masks.dtype == torch.bool


def test_class_aware_nms_keeps_masks_with_their_boxes():
    a, b, c = (
        [2.0, 2.0, 10.0, 10.0],
        [3.0, 2.0, 11.0, 10.0],
        [15.0, 5.0, 28.0, 18.0],
    )
    v1 = view([a, c], [0.8, 0.3], [0, 0])
    # b overlaps a (IoU 0.78) with another class: kept; its flipped twin of
    # the same class is suppressed
    v2 = view([b, b], [0.7, 0.5], [2, 2], flip=True)
    (merged,) = build().merge_preds([[v1, v2]])
    res = merged.pred_instances
    assert res.scores.tolist() == pytest.approx([0.8, 0.7, 0.3])
    assert res.labels.tolist() == [0, 2, 0]
    for box, mask in zip(res.bboxes, res.masks):
        assert torch.equal(mask, box_mask(box.tolist()))


def test_max_per_img_and_empty_views():
    boxes = [[i, 0.0, i + 2.0, 2.0] for i in range(0, 24, 4)]
    v = view(boxes, [0.1 * (i + 1) for i in range(6)], [0] * 6)
    model = build(tta_cfg=dict(TTA_CFG, max_per_img=4))
    (merged,) = model.merge_preds([[v]])
    assert merged.pred_instances.scores.tolist() == pytest.approx(
        [0.6, 0.5, 0.4, 0.3]
    )
    empty = [view([], [], []), view([], [], [], flip=True)]
    (merged,) = model.merge_preds([empty])
    res = merged.pred_instances
    assert len(res) == 0 and res.masks.shape == (0, H, W)
    assert res.bboxes.shape == (0, 4)


def test_bad_views_give_clear_errors():
    v = view([[1.0, 1.0, 5.0, 5.0]], [0.5], [0])
    v.set_metainfo(dict(ori_shape=(H + 1, W)))
    with pytest.raises(ValueError, match='rescale=True'):
        build().merge_preds([[v]])
    v = view([[1.0, 1.0, 5.0, 5.0]], [0.5], [0])
    meta = dict(v.metainfo)
    del meta['flip']
    bare = DetDataSample(metainfo=meta)
    bare.pred_instances = v.pred_instances
    with pytest.raises(KeyError, match='flip_direction'):
        build().merge_preds([[bare]])
    v = view([[1.0, 1.0, 5.0, 5.0]], [0.5], [0])
    del v.pred_instances.masks
    with pytest.raises(KeyError, match='masks'):
        build().merge_preds([[v]])
    with pytest.raises(ValueError, match='tta_cfg'):
        build(tta_cfg=None)


def test_panoptic_detector_is_refused():
    cfg = Config.fromfile(
        osp.join(
            REPO_ROOT,
            'configs',
            'panoptic',
            'blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py',
        )
    )
    with pytest.raises(NotImplementedError, match='without --tta'):
        build(module=cfg.model)


def test_runtime_and_dataset_configs_define_tta():
    for rel in (
        'configs/blendmask_r50_3x.py',
        'configs/blendmask-rt_r50_fpn_ms-550-3x_coco.py',
        'configs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py',
    ):
        cfg = Config.fromfile(osp.join(REPO_ROOT, rel))
        assert cfg.tta_model.type == 'DetTTAModelWithMasks', rel
        loader, tta = cfg.tta_pipeline
        assert loader == cfg.test_pipeline[0], rel
        resizes, flips, *_, pack = tta.transforms
        test_scale = next(
            t.scale for t in cfg.test_pipeline if t.type == 'Resize'
        )
        assert tuple(resizes[0].scale) == tuple(test_scale), rel
        assert len(resizes) == 2 and [f.prob for f in flips] == [1.0, 0.0]
        assert {'flip', 'flip_direction'} <= set(pack[0].meta_keys), rel
