"""BlendMaskPanoptic: level routing, one training step on the real COCO
panoptic sample, the fusion rules on crafted inputs, and a valid panoptic
map through ``mmdet.apis.init_detector`` + ``inference_detector`` on a real
photo (checked pixel by pixel against an independent implementation of
Panoptic FPN's combination rule)."""

import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import InstanceData

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
SAMPLE_CFG = osp.join(
    REPO,
    'configs',
    'panoptic',
    'blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py',
)
R50_CFG = osp.join(
    REPO, 'configs', 'panoptic', 'blendmask-panoptic_r50_fpn_ms-3x_coco.py'
)
SAMPLE = osp.join(
    REPO, '..', 'shared', 'data', 'coco_panoptic_sample', 'sample_data'
)
PHOTO = osp.join(SAMPLE, 'input_images', '000000142238.jpg')
NUM_THINGS, NUM_STUFF = 80, 53
NUM_CLASSES = NUM_THINGS + NUM_STUFF  # also the VOID label

needs_sample = pytest.mark.skipif(
    not osp.isdir(SAMPLE), reason='shared coco_panoptic_sample not present'
)


def build(cfg_path=SAMPLE_CFG, **model_overrides):
    cfg = Config.fromfile(cfg_path)
    cfg.model.update(model_overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def model():
    return build()


# --------------------------------------------------------------- structure


def test_configs_route_levels_explicitly(model):
    """FPN P2..P7: FCOS on P3-P7 (stride 8..128), bases from P3+P5 at
    stride 8, semantic logits (53 stuff + things) at stride 4."""
    for path in (R50_CFG, SAMPLE_CFG):
        cfg = Config.fromfile(path).model
        assert cfg.type == 'BlendMaskPanoptic'
        assert (cfg.neck.start_level, cfg.neck.num_outs) == (0, 6)
        assert tuple(cfg.bbox_head.feat_indices) == (1, 2, 3, 4, 5)
        assert tuple(cfg.mask_head.basis.in_indices) == (1, 3)
        assert cfg.mask_head.basis.sem_in_index == 1
        assert (
            cfg.semantic_head.start_level,
            cfg.semantic_head.end_level,
        ) == (0, 4)
        assert cfg.test_cfg.panoptic == dict(
            instance_score_thr=0.45, mask_overlap=0.4, stuff_area_limit=4096
        )
        assert cfg.data_preprocessor.pad_seg
        assert cfg.data_preprocessor.seg_pad_value == 255
    model.eval()
    with torch.no_grad():
        (cls, box, ctr, attn), (bases, _), seg = model(
            torch.randn(1, 3, 128, 160), mode='tensor'
        )
    assert [c.shape[-2:] for c in cls] == [
        (16, 20),
        (8, 10),
        (4, 5),
        (2, 3),
        (1, 2),
    ]
    assert bases.shape[-2:] == (16, 20)
    assert seg.shape == (1, NUM_STUFF + 1, 32, 40)


def test_default_fusion_cfg_and_checks():
    cfg = Config.fromfile(SAMPLE_CFG).model
    del cfg.test_cfg['panoptic']
    m = MODELS.build(cfg)
    assert m.panoptic_cfg == dict(
        instance_score_thr=0.45, mask_overlap=0.4, stuff_area_limit=4096
    )
    assert m.panoptic_fusion_head.test_cfg.mask_overlap == 0.4
    assert m.panoptic_fusion_head.test_cfg.stuff_area_limit == 4096
    # a partial panoptic cfg keeps the other defaults
    cfg.test_cfg.panoptic = dict(instance_score_thr=0.2)
    m = MODELS.build(cfg)
    assert m.panoptic_cfg.instance_score_thr == 0.2
    assert m.panoptic_cfg.mask_overlap == 0.4
    # class counts must agree between the heads
    bad = copy.deepcopy(cfg)
    bad.semantic_head.num_stuff_classes = 52
    with pytest.raises(ValueError, match='num_stuff_classes'):
        MODELS.build(bad)


@needs_sample
def test_fpn_without_p2_is_rejected():
    cfg = Config.fromfile(SAMPLE_CFG).model
    cfg.neck.update(start_level=1, num_outs=6)  # P3..P8: stride 8 first
    cfg.neck.in_channels = [16, 32, 64, 128]
    m = MODELS.build(cfg)
    inputs, samples = _real_batch(train=True)
    data = m.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    with pytest.raises(ValueError, match='stride 4'):
        m(**data, mode='loss')


# ---------------------------------------------------------------- training


def _real_batch(train=True):
    cfg = Config.fromfile(SAMPLE_CFG)
    loader = cfg.train_dataloader if train else cfg.test_dataloader
    ds_cfg = copy.deepcopy(loader.dataset)
    if train:  # deterministic: no flip
        ds_cfg.pipeline = [
            t for t in ds_cfg.pipeline if t['type'] != 'RandomFlip'
        ]
    dataset = DATASETS.build(ds_cfg)
    data = pseudo_collate([dataset[i] for i in range(len(dataset))])
    return data['inputs'], data['data_samples']


@needs_sample
def test_trains_one_step_on_real_sample():
    model = build()
    model.train()
    inputs, samples = _real_batch(train=True)
    assert all('gt_sem_seg' in s for s in samples)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    # gt_sem_seg padded to the batch with VOID (255)
    assert all(
        s.gt_sem_seg.sem_seg.shape[-2:] == data['inputs'].shape[-2:]
        for s in data['data_samples']
    )
    losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_cls',
        'loss_bbox',
        'loss_centerness',
        'loss_mask',
        'loss_sem',
        'loss_seg',
        'mask_avg_factor',
    }
    for k, v in losses.items():
        assert torch.isfinite(v) and v.item() > 0, k
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = model.semantic_head.conv_logits.weight.detach().clone()
    opt.zero_grad()
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grad = model.semantic_head.conv_logits.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert model.bbox_head.top_layer.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(before, model.semantic_head.conv_logits.weight)

    # no gt_sem_seg: a clear error
    for s in samples:
        del s.gt_sem_seg
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    with pytest.raises(ValueError, match='gt_sem_seg'):
        model(**data, mode='loss')


# ----------------------------------------------------------------- fusion


def _instances(boxes_masks_scores_labels, size):
    H, W = size
    masks, scores, labels, bboxes = [], [], [], []
    for (y1, y2, x1, x2), score, label in boxes_masks_scores_labels:
        m = torch.zeros(H, W, dtype=torch.bool)
        m[y1:y2, x1:x2] = True
        masks.append(m)
        scores.append(score)
        labels.append(label)
        bboxes.append([x1, y1, x2, y2])
    return InstanceData(
        bboxes=torch.tensor(bboxes, dtype=torch.float32).view(-1, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.tensor(labels, dtype=torch.long),
        masks=torch.stack(masks)
        if masks
        else torch.zeros(0, H, W, dtype=torch.bool),
    )


def _seg_logits(stuff_map):
    """``[54, H, W]`` logits whose argmax is ``stuff_map`` (0..52 stuff,
    53 = things)."""
    return (
        torch.nn.functional.one_hot(
            torch.as_tensor(stuff_map).long(), NUM_STUFF + 1
        )
        .permute(2, 0, 1)
        .float()
        * 10
    )


def _fuse(model, instances, stuff_map):
    (pan,) = model.fuse([instances], [_seg_logits(stuff_map)])
    return pan.sem_seg[0].long()


def test_fusion_drops_instances_below_instance_score_thr(model):
    H, W = 100, 200  # stuff regions stay above 4096 px
    stuff = torch.zeros(H, W, dtype=torch.long)  # stuff label 80 everywhere
    insts = _instances(
        [
            ((0, 70, 0, 70), 0.50, 3),
            ((0, 70, 72, 200), 0.449, 5),
            ((75, 100, 0, 200), 0.45, 7),
        ],
        (H, W),
    )
    pan = _fuse(model, insts, stuff)
    labels = pan % INSTANCE_OFFSET
    assert model.panoptic_cfg.instance_score_thr == 0.45
    assert (labels[0:70, 0:70] == 3).all()
    # 0.449 < 0.45: dropped, its pixels are stuff
    assert (labels[0:70, 72:200] == NUM_THINGS).all()
    assert (pan[0:70, 72:200] < INSTANCE_OFFSET).all()
    # exactly at the threshold: kept
    assert (labels[75:100] == 7).all()
    assert len(torch.unique(pan[pan >= INSTANCE_OFFSET])) == 2
    # the paper's 0.2 keeps it
    model.panoptic_cfg.instance_score_thr = 0.2
    try:
        pan = _fuse(model, insts, stuff)
    finally:
        model.panoptic_cfg.instance_score_thr = 0.45
    assert ((pan % INSTANCE_OFFSET)[0:70, 72:200] == 5).all()
    assert len(torch.unique(pan[pan >= INSTANCE_OFFSET])) == 3


def test_fusion_drops_masks_overlapping_earlier_ones(model):
    H, W = 100, 200
    stuff = torch.zeros(H, W, dtype=torch.long)
    # A (0.9): rows 0-39. B (0.8): rows 20-59, half of it under A (0.5 >
    # 0.4) -> dropped. C (0.7): rows 28-67, 12 of its 40 rows under A
    # (0.3 <= 0.4) -> kept on its free pixels only.
    insts = _instances(
        [
            ((0, 40, 0, 200), 0.9, 1),
            ((20, 60, 0, 200), 0.8, 2),
            ((28, 68, 0, 200), 0.7, 4),
        ],
        (H, W),
    )
    pan = _fuse(model, insts, stuff)
    labels = pan % INSTANCE_OFFSET
    assert (labels[0:40] == 1).all()
    assert not (labels == 2).any()
    assert (labels[40:68] == 4).all()
    assert (labels[68:] == NUM_THINGS).all()
    ids = torch.unique(pan[pan >= INSTANCE_OFFSET])
    assert len(ids) == 2
    # the limit itself is kept: C over all 100 rows, 40 under A (0.4)
    insts = _instances(
        [((0, 40, 0, 200), 0.9, 1), ((0, 100, 0, 200), 0.7, 4)], (H, W)
    )
    pan = _fuse(model, insts, stuff)
    assert ((pan % INSTANCE_OFFSET) == 4).sum() == 60 * 200
    # C over rows 0-98: 40/99 > 0.4 -> dropped
    insts = _instances(
        [((0, 40, 0, 200), 0.9, 1), ((0, 99, 0, 200), 0.7, 4)], (H, W)
    )
    pan = _fuse(model, insts, stuff)
    assert not ((pan % INSTANCE_OFFSET) == 4).any()


def test_fusion_voids_small_stuff_regions(model):
    H, W = 100, 100  # 10000 px
    stuff = torch.full((H * W,), NUM_STUFF, dtype=torch.long)  # "things"
    stuff[:4095] = 0  # 4095 px of stuff 0 (label 80): < 4096 -> VOID
    stuff[4095 : 4095 + 4096] = 1  # exactly 4096 px of stuff 1: kept
    stuff = stuff.view(H, W)
    empty = _instances([], (H, W))
    pan = _fuse(model, empty, stuff)
    flat = pan.view(-1)
    assert (flat[:4095] == NUM_CLASSES).all()  # VOID
    assert (flat[4095:8191] == NUM_THINGS + 1).all()
    # "things" pixels without an instance are VOID
    assert (flat[8191:] == NUM_CLASSES).all()
    # the area counts after instances are pasted: an instance over 1 row
    # (100 px) of stuff 1 leaves 3996 px -> VOID
    row = int(4095 // W) + 1  # a row fully inside the stuff-1 region
    one = _instances([((row, row + 1, 0, 100), 0.9, 0)], (H, W))
    pan = _fuse(model, one, stuff)
    flat = pan.view(-1)
    assert (pan[row] == INSTANCE_OFFSET).all()  # label 0, instance 1
    assert not (flat == NUM_THINGS + 1).any()


# --------------------------------------------------- real-image inference


def reference_combine(
    masks, scores, labels, sem, score_thr, overlap_thr, area_limit
):
    """Panoptic FPN's combination (detectron2
    ``combine_semantic_and_instance_outputs``), re-implemented in numpy,
    in mmdet's encoding: things ``label + k * INSTANCE_OFFSET`` (k-th pasted
    instance), stuff ``80 + s``, VOID 133. ``sem``: argmax of the semantic
    logits (0..52 stuff, 53 things)."""
    H, W = sem.shape
    seg = np.zeros((H, W), np.int64)  # 0 = free
    out = np.full((H, W), NUM_CLASSES, np.int64)
    k = 0
    for i in np.argsort(-scores, kind='stable'):
        if scores[i] < score_thr:
            break
        mask = masks[i]
        area = mask.sum()
        if area == 0:
            continue
        inter = (mask & (seg > 0)).sum()
        if inter / area > overlap_thr:
            continue
        mask = mask & (seg == 0)
        k += 1
        seg[mask] = k
        out[mask] = labels[i] + k * INSTANCE_OFFSET
    for s in np.unique(sem):
        if s == NUM_STUFF:
            continue
        mask = (sem == s) & (seg == 0)
        if mask.sum() < area_limit:
            continue
        out[mask] = NUM_THINGS + s
    return out


@needs_sample
def test_inference_detector_gives_valid_panoptic_map(tmp_path):
    from mmdet.apis import inference_detector, init_detector

    cfg = Config.fromfile(SAMPLE_CFG)
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    ckpt = str(tmp_path / 'model.pth')
    torch.save(
        dict(
            state_dict=build().state_dict(),
            meta=dict(dataset_meta=dataset.metainfo),
        ),
        ckpt,
    )
    # keep every detection (untrained scores are low) and a low instance
    # threshold so that the fusion rules get exercised on many masks
    thr = 0.05
    detector = init_detector(
        cfg,
        ckpt,
        device='cpu',
        cfg_options={
            'model.test_cfg.score_thr': 0.0,
            'model.test_cfg.panoptic.instance_score_thr': thr,
        },
    )
    assert detector.dataset_meta['classes'] == dataset.metainfo['classes']
    captured = {}
    fuse = detector.fuse

    def spy(results_list, seg_preds):
        captured['instances'] = [r.clone() for r in results_list]
        captured['seg'] = [s.clone() for s in seg_preds]
        return fuse(results_list, seg_preds)

    detector.fuse = spy
    result = inference_detector(detector, PHOTO)

    pan = result.pred_panoptic_seg.sem_seg
    assert pan.shape == (1, 427, 640)  # the photo's size
    pan = pan[0].long().numpy()
    labels, inst = pan % INSTANCE_OFFSET, pan // INSTANCE_OFFSET
    # every pixel: one thing instance, one stuff class, or VOID
    assert labels.min() >= 0 and labels.max() <= NUM_CLASSES
    assert (inst[labels >= NUM_THINGS] == 0).all()  # stuff / VOID: no id
    assert (inst[labels < NUM_THINGS] >= 1).all()  # things: an instance id
    for k in np.unique(inst[inst > 0]):  # one class per instance id
        assert len(np.unique(labels[inst == k])) == 1

    # things from instances, stuff from semantics, exactly by the rule
    (instances,) = captured['instances']
    (seg,) = captured['seg']
    assert instances.masks.shape[-2:] == (427, 640)
    assert seg.shape == (NUM_STUFF + 1, 427, 640)
    assert len(instances) > 0 and (instances.scores >= thr).sum() > 1
    expected = reference_combine(
        instances.masks.numpy(),
        instances.scores.numpy(),
        instances.labels.numpy(),
        seg.argmax(0).numpy(),
        thr,
        0.4,
        4096,
    )
    np.testing.assert_array_equal(pan, expected)
    num_things = len(np.unique(inst[inst > 0]))
    assert num_things > 0
    # each pasted thing lies inside its own instance's mask, no overlaps
    kept = instances[instances.scores >= thr]
    for k in np.unique(inst[inst > 0]):
        seg_mask = inst == k
        assert any(
            (m[seg_mask]).all() and lab == labels[seg_mask][0]
            for m, lab in zip(kept.masks.numpy(), kept.labels.numpy())
        )
    # all detections stay available as instance predictions
    assert len(result.pred_instances) == len(instances)


@needs_sample
def test_predict_without_rescale_is_at_input_size(model):
    """rescale=False: instance masks and the semantic map both at
    ``img_shape`` (the semantic logits are cropped from the padded batch)."""
    model.eval()
    inputs, samples = _real_batch(train=False)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    model.bbox_head.test_cfg.score_thr = 0.0  # untrained: keep detections
    try:
        with torch.no_grad():
            results = model.predict(
                data['inputs'], data['data_samples'], rescale=False
            )
    finally:
        model.bbox_head.test_cfg.score_thr = 0.05
    for r in results:
        assert len(r.pred_instances) > 0
        h, w = r.metainfo['img_shape']
        assert (h, w) != tuple(r.metainfo['ori_shape'])
        assert r.pred_panoptic_seg.sem_seg.shape == (1, h, w)
        assert r.pred_instances.masks.shape[-2:] == (h, w)
