"""BlendMask's mask branch on mmdet's DINO and Deformable DETR, from the
configs/mixing/ configs: positives are the host's Hungarian matches (and
DINO's denoising positives), attentions are the top layer at those queries,
detections carry the attentions of the queries the host's own selection
read them from, a training step on real photos reaches the top layer and
the bases, and mmdet's inference API returns image-size masks."""

import copy
import os.path as osp
import random

import mmcv
import mmdet
import numpy as np
import pytest
import torch
from mixing_utils import needs_query_host_torch
from mmdet.models.dense_heads import DeformableDETRHead, DINOHead
from mmdet.registry import DATASETS, MODELS
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.config import Config

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
MIXING = osp.join(REPO, 'configs', 'mixing')
MIM = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
CONFIGS = {
    'BlendDINO': osp.join(
        MIXING, 'blendmask-dino-4scale_r50_8xb2-12e_coco.py'
    ),
    'BlendDeformableDETR': osp.join(
        MIXING,
        'blendmask-deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
    ),
}
HOSTS = {
    'BlendDINO': 'dino/dino-4scale_r50_8xb2-12e_coco.py',
    'BlendDeformableDETR': (
        'deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py'
    ),
}
DATA = osp.join(REPO, 'demo', 'data', 'coco128-seg')
PHOTOS = (34, 73)  # zebra (640x425), motorbikes (500x375)
SIZE = 0.2  # every image and crop size of the pipelines, scaled
GN8 = dict(type='GN', num_groups=8, requires_grad=True)

pytestmark = needs_query_host_torch


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: these small models gain nothing from more, and
    on a shared 2-core machine extra threads spin."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def scale_sizes(pipeline, factor: float) -> None:
    """Scale the sizes of the resize and crop transforms in ``pipeline``
    (also inside ``RandomChoice``) by ``factor``, in place."""
    for t in pipeline:
        if t['type'] == 'RandomChoice':
            for branch in t['transforms']:
                scale_sizes(branch, factor)
        for key in ('scale', 'scales', 'crop_size'):
            if key in t:
                sizes = t[key] if key == 'scales' else [t[key]]
                sizes = [tuple(int(v * factor) for v in s) for s in sizes]
                t[key] = sizes if key == 'scales' else sizes[0]


def small_cfg(name: str = 'BlendDINO', **head) -> Config:
    """The mixing config at R-18 quarter width, one encoder and two decoder
    layers (DINO's decoder needs 256 dims), 30 queries, 32-channel bases,
    blender 28_4_7, 50 detections, pipelines at 0.2 of their sizes, no
    pretrained weights; ``head`` overrides ``bbox_head``."""
    cfg = Config.fromfile(CONFIGS[name])
    m = cfg.model
    m.backbone.update(depth=18, base_channels=16, init_cfg=None)
    m.neck.in_channels = [32, 64, 128]
    m.num_queries = 30
    m.encoder.num_layers = 1
    m.encoder.layer_cfg.ffn_cfg.feedforward_channels = 256
    m.decoder.num_layers = 2
    m.decoder.layer_cfg.ffn_cfg.feedforward_channels = 256
    if 'dn_cfg' in m:
        m.dn_cfg.group_cfg.num_dn_queries = 20
    m.bbox_head.update(head)
    m.mask_head.basis.update(
        channels=32, low_level_channels=16, sem_channels=32, norm_cfg=GN8
    )
    m.mask_head.blender.update(bottom_resolution=28, attn_size=7)
    m.test_cfg.max_per_img = 50
    for key in ('train_dataloader', 'test_dataloader'):
        scale_sizes(cfg[key].dataset.pipeline, SIZE)
    return cfg


def plain(cfg) -> dict:
    """A config dict without the registry scopes mmdet:: bases add."""
    if isinstance(cfg, dict):
        return {k: plain(v) for k, v in cfg.items() if k != '_scope_'}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(plain(v) for v in cfg)
    return cfg


def build(cfg: Config):
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    return model


def dataset(cfg: Config, pipeline=None):
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(
        data_root=DATA,
        ann_file='instances_train.json',
        data_prefix=dict(img='images/train2017/'),
        filter_cfg=None,
    )
    if pipeline is not None:
        ds_cfg.pipeline = pipeline
    ds = DATASETS.build(ds_cfg)
    return ds, {ds.get_data_info(i)['img_id']: i for i in range(len(ds))}


def real_batch(cfg: Config, model, seed: int = 0):
    """Real coco128-seg photos with their GT masks, through the config's
    own (random) train pipeline."""
    ds, index = dataset(cfg)
    np.random.seed(seed)
    random.seed(seed)
    items = [ds[index[i]] for i in PHOTOS]
    return model.data_preprocessor(
        dict(
            inputs=[d['inputs'] for d in items],
            data_samples=[d['data_samples'] for d in items],
        ),
        True,
    )


def last_layer_outputs(model, data):
    """A training forward of the box head, returning what its loss saw:
    ``(hidden_states, matching cls scores [L, B, Q, C], matching boxes,
    dn_meta)``."""
    seen = {}
    loss = model.bbox_head.loss

    def spy(**kwargs):
        seen.update(kwargs)
        return loss(**kwargs)

    model.bbox_head.loss = spy
    try:
        losses = model.loss(data['inputs'], data['data_samples'])
    finally:
        del model.bbox_head.loss
    head = model.bbox_head
    cls, boxes = head(seen['hidden_states'], seen['references'])
    dn_meta = seen.get('dn_meta')
    if dn_meta is not None:
        cls, boxes, _, _ = head.split_outputs(cls, boxes, dn_meta)
    return losses, seen['hidden_states'], cls, boxes, dn_meta


@pytest.mark.parametrize('name', list(CONFIGS))
def test_positives_are_the_hosts_hungarian_matches(name):
    """The positives of the last decoder layer are exactly the queries
    mmdet's own targets (``get_targets`` of the host class) mark positive,
    paired with the GT whose box and label those targets hold; their rows in
    the hidden states are the queries the host scored."""
    cfg = small_cfg(name)
    model = build(cfg)
    data = real_batch(cfg, model)
    _, hidden, cls, boxes, _ = last_layer_outputs(model, data)
    infos = model.bbox_head.get_positive_infos()
    head, L = model.bbox_head, hidden.size(0)
    samples = data['data_samples']
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]
    host = DINOHead if name == 'BlendDINO' else DeformableDETRHead
    labels, _, targets, _, _, _ = host.get_targets(
        head, list(cls[-1]), list(boxes[-1]), gts, metas
    )
    num_matching = cls.size(2)
    for img, info in enumerate(infos):
        assert (info.layers == L - 1).all()
        pos = info.queries - (hidden.size(2) - num_matching)
        expected = (labels[img] < head.num_classes).nonzero().squeeze(1)
        assert len(expected) == len(gts[img]) > 0  # one query per GT
        assert torch.equal(pos, expected)
        gt = gts[img][info.pos_assigned_gt_inds]
        assert torch.equal(labels[img][pos], gt.labels)
        h, w = metas[img]['img_shape']
        norm = bbox_xyxy_to_cxcywh(
            gt.bboxes / gt.bboxes.new_tensor([w, h, w, h])
        )
        torch.testing.assert_close(targets[img][pos], norm)
        # the hidden-state rows are the scored queries
        rows = hidden[L - 1, img, info.queries]
        torch.testing.assert_close(
            head.cls_branches[L - 1](rows), cls[-1, img, pos]
        )
        # attentions: the top layer at those rows
        torch.testing.assert_close(info.attns, head.top_layer(rows))
        assert torch.equal(info.mask_weights, torch.ones(len(info)))


def test_aux_layer_and_denoising_positives():
    """With ``mask_loss_aux_layers`` every decoder layer's matches are
    positives; with ``mask_loss_denoising`` DINO's positive denoising
    queries too, each paired with the GT mmdet's denoising targets give
    it."""
    cfg = small_cfg(mask_loss_aux_layers=True, mask_loss_denoising=True)
    model = build(cfg)
    data = real_batch(cfg, model)
    _, hidden, _, _, dn_meta = last_layer_outputs(model, data)
    head, L = model.bbox_head, hidden.size(0)
    num_dn = dn_meta['num_denoising_queries']
    gts = [s.gt_instances for s in data['data_samples']]
    metas = [s.metainfo for s in data['data_samples']]
    infos = head.get_positive_infos()
    labels, _, targets, _, _, _ = head.get_dn_targets(gts, metas, dn_meta)
    for img, info in enumerate(infos):
        n = len(gts[img])
        matched = info.queries >= num_dn
        for layer in range(L):
            in_layer = info.layers == layer
            assert (in_layer & matched).sum() == n
            dn = in_layer & ~matched
            # one positive denoising query per GT and denoising group
            assert dn.sum() == n * dn_meta['num_denoising_groups']
            q, gt = info.queries[dn], info.pos_assigned_gt_inds[dn]
            expected = (labels[img] < head.num_classes).nonzero().squeeze(1)
            assert torch.equal(q, expected)
            assert torch.equal(labels[img][q], gts[img].labels[gt])
            h, w = metas[img]['img_shape']
            norm = bbox_xyxy_to_cxcywh(
                gts[img].bboxes[gt] / torch.tensor([w, h, w, h])
            )
            torch.testing.assert_close(targets[img][q], norm)
        torch.testing.assert_close(
            info.attns, head.top_layer(hidden[info.layers, img, info.queries])
        )


@pytest.mark.parametrize('name', list(CONFIGS))
def test_training_step_reaches_top_layer_and_bases(name):
    cfg = small_cfg(name)
    model = build(cfg)
    data = real_batch(cfg, model)
    losses = model.loss(data['inputs'], data['data_samples'])
    host_keys = {'loss_cls', 'loss_bbox', 'loss_iou', 'enc_loss_cls'}
    assert host_keys | {'loss_mask', 'loss_sem'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['loss_mask'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    top = model.bbox_head.top_layer  # the MLP's two linear layers
    for part, module in (
        ('top layer 0', top[0]),
        ('top layer 2', top[2]),
        ('bases', model.mask_head.basis.bases),
    ):
        grad = module.weight.grad
        assert grad is not None and grad.abs().sum() > 0, part


def test_images_without_gt_train():
    cfg = small_cfg()
    model = build(cfg)
    data = real_batch(cfg, model)
    for s in data['data_samples']:
        s.gt_instances = s.gt_instances[:0]
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_mask'] == 0
    assert all(torch.isfinite(v).all() for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(
        p.grad is not None for p in model.bbox_head.top_layer.parameters()
    )


@pytest.mark.parametrize('name', list(CONFIGS))
def test_detections_carry_their_querys_attention(name):
    """Each detection's attention is the top layer at the last decoder
    layer's hidden state of the query the host's top-k over queries x
    classes selected it from (``index // num_classes``)."""
    cfg = small_cfg(name)
    model = build(cfg).eval()
    data = real_batch(cfg, model)
    head = model.bbox_head
    seen = {}
    predict = head.predict

    def spy(hidden_states, references, *args, **kwargs):
        seen.update(hidden=hidden_states, references=references)
        return predict(hidden_states, references, *args, **kwargs)

    head.predict = spy
    blend = model.mask_head.predict_by_feat

    def keep(bases, sem, results_list, *args, **kwargs):
        seen['attns'] = [r.attns.clone() for r in results_list]
        return blend(bases, sem, results_list, *args, **kwargs)

    model.mask_head.predict_by_feat = keep
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
        cls, _ = head(seen['hidden'], seen['references'])
    for img, res in enumerate(results):
        pred = res.pred_instances
        assert len(pred) == cfg.model.test_cfg.max_per_img
        scores, index = cls[-1, img].sigmoid().flatten().topk(len(pred))
        queries = index // head.num_classes
        torch.testing.assert_close(pred.scores, scores)
        torch.testing.assert_close(
            seen['attns'][img],
            head.top_layer(seen['hidden'][-1, img, queries]),
        )
        assert 'attns' not in pred and 'queries' not in pred


def test_softmax_host_selection_is_paired_too():
    """The host's softmax branch (one detection per query, ranked) is
    paired through the same recorded read."""
    cfg = Config.fromfile(osp.join(MIM, HOSTS['BlendDINO']))
    head = MODELS.build(
        dict(
            cfg.model.bbox_head,
            type='BlendDINOHead',
            num_classes=5,
            attn_channels=8,
            test_cfg=dict(max_per_img=4),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False),
        )
    )
    torch.manual_seed(0)
    cls = torch.randn(10, 6)
    boxes = torch.rand(10, 4)
    meta = dict(img_shape=(50, 60))
    res = head._predict_by_feat_single(cls, boxes, meta, rescale=False)
    scores, labels = cls.softmax(-1)[:, :-1].max(-1)
    expected = scores.topk(4)[1]
    assert torch.equal(res.queries, expected)
    assert torch.equal(res.labels, labels[expected])


def test_a_host_reading_boxes_differently_is_refused(monkeypatch):
    cfg = Config.fromfile(osp.join(MIM, HOSTS['BlendDINO']))
    head = MODELS.build(
        dict(
            cfg.model.bbox_head,
            type='BlendDINOHead',
            num_classes=5,
            attn_channels=8,
            test_cfg=dict(max_per_img=4),
        )
    )
    original = DeformableDETRHead._predict_by_feat_single

    def gather_instead(self, cls_score, bbox_pred, *args, **kwargs):
        # the same selection, boxes taken by index_select (no row read)
        return original(
            self,
            cls_score,
            bbox_pred.index_select(0, torch.arange(len(bbox_pred))),
            *args,
            **kwargs,
        )

    monkeypatch.setattr(
        DeformableDETRHead, '_predict_by_feat_single', gather_instead
    )
    with pytest.raises(RuntimeError, match='paired'):
        head._predict_by_feat_single(
            torch.randn(10, 5),
            torch.rand(10, 4),
            dict(img_shape=(50, 60)),
            False,
        )


def test_tensor_mode_without_gt():
    cfg = small_cfg()
    model = build(cfg).eval()
    data = real_batch(cfg, model)
    samples = [s.clone() for s in data['data_samples']]
    for s in samples:
        del s.gt_instances
    with torch.no_grad():
        (cls, boxes), attns, (bases, sem) = model(
            data['inputs'], samples, mode='tensor'
        )
    B, Q = len(samples), cfg.model.num_queries
    assert cls.shape == (2, B, Q, 80) and boxes.shape == (2, B, Q, 4)
    assert attns.shape == (B, Q, 4 * 7 * 7)
    assert bases.shape[:2] == (B, 4) and sem is None


@pytest.mark.parametrize('name', list(CONFIGS))
def test_inference_detector_gives_image_size_masks(name):
    from mmdet.apis import inference_detector

    cfg = small_cfg(name)
    model = build(cfg).eval()
    model.cfg = cfg
    photo = osp.join(DATA, 'images', 'train2017', '000000000034.jpg')
    pred = inference_detector(model, photo).pred_instances
    h, w = mmcv.imread(photo).shape[:2]
    assert len(pred) == min(cfg.model.test_cfg.max_per_img, 30 * 80)
    assert pred.masks.shape[1:] == (h, w) and pred.masks.dtype == torch.bool
    assert (pred.bboxes[:, 2:] <= torch.tensor([w, h]) + 1e-3).all()


@pytest.mark.parametrize('branch', [0, 1])
def test_masks_follow_the_train_pipeline(branch):
    """Both branches of DINO's RandomChoice (multi-scale resize; resize,
    crop, resize), after the random flip, transform the masks with the
    boxes: each GT mask has the image's size and lies in its box; without
    the crop it fills its box (touches every side). (A cropped object can
    leave its clipped box's side untouched: mmdet does not recompute
    boxes from masks.)"""
    cfg = small_cfg()
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    choice = [t for t in pipeline if t['type'] == 'RandomChoice'][0]
    choice['prob'] = [1.0 - branch, float(branch)]
    ds, index = dataset(cfg, pipeline)
    for seed in range(3):
        np.random.seed(seed)
        for photo in PHOTOS:
            sample = ds[index[photo]]['data_samples']
            gt = sample.gt_instances
            masks = gt.masks.to_tensor(torch.bool, 'cpu')
            assert masks.shape[1:] == sample.img_shape
            for box, mask in zip(gt.bboxes.tensor, masks):
                ys, xs = mask.nonzero(as_tuple=True)
                if len(ys) == 0:  # cropped away: its box is degenerate
                    assert (box[2:] - box[:2]).min() <= 1
                    continue
                tight = torch.stack(
                    [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                ).float()
                assert (tight[:2] >= box[:2] - 2).all(), (tight, box)
                assert (tight[2:] <= box[2:] + 2).all(), (tight, box)
                if branch == 0:
                    assert ((tight - box).abs() <= 2).all(), (tight, box)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_is_mmdets_host_plus_the_mask_branch(name):
    """The mixing config resolves to mmdet's own config except the types
    (Blend*), the mask head, mask padding, mask_thr, the masks loaded by the
    train pipeline and its loader (the checked one), the segm metric and
    our hooks."""
    ours = Config.fromfile(CONFIGS[name])
    host = Config.fromfile(osp.join(MIM, HOSTS[name]))
    m, h = copy.deepcopy(ours.model), copy.deepcopy(host.model)
    assert m.pop('type') == name and 'Blend' + h.pop('type') == name
    assert m.bbox_head.pop('type') == 'Blend' + h.bbox_head.pop('type')
    assert m.pop('mask_head').type == 'BlendMaskMaskHead'
    assert m.data_preprocessor.pop('pad_mask') is True
    assert m.test_cfg.pop('mask_thr') == 0.5
    assert plain(m) == plain(h)
    pipeline = copy.deepcopy(ours.train_dataloader.dataset.pipeline)
    load = [t for t in pipeline if t['type'] == 'LoadAnnotations'][0]
    assert load.pop('with_mask') is True
    assert pipeline[0]['type'] == 'LoadCheckedImageFromFile'
    pipeline[0]['type'] = 'LoadImageFromFile'
    assert plain(pipeline) == plain(host.train_dataloader.dataset.pipeline)
    assert ours.val_evaluator.metric == ['bbox', 'segm']
    for key in (
        'optim_wrapper',
        'param_scheduler',
        'train_cfg',
        'test_dataloader',
    ):
        assert plain(ours[key]) == plain(host[key]), key
    assert [hk.type for hk in ours.custom_hooks] == [
        'DatasetCheckHook',
        'FiniteLossHook',
    ]


def test_unservable_settings_are_refused():
    cfg = small_cfg(attn_channels=5)
    with pytest.raises(ValueError, match='attn_channels'):
        MODELS.build(cfg.model)
    cfg = small_cfg()
    cfg.model.mask_head.basis.num_classes = 3
    with pytest.raises(ValueError, match='num_classes=3'):
        MODELS.build(cfg.model)
    cfg = small_cfg()
    cfg.model.test_cfg.clip_after_mask = True
    with pytest.raises(ValueError, match='clip_after_mask'):
        MODELS.build(cfg.model)


def test_onnx_export_refuses_the_query_hosts():
    """The export traces BlendMask's and the two-stage detectors' inference
    only; these detectors are refused with an error naming their type."""
    from mmblend.deploy import check_exportable

    model = build(small_cfg())
    with pytest.raises(
        ValueError, match="model.type='BlendMask'.*got BlendDINO"
    ):
        check_exportable(model)
