"""The blender as Mask R-CNN's mask head: the mixing config builds, trains a
step on real photos, predicts image-size masks through mmdet's inference
API, and refuses the configurations it cannot serve with clear errors."""

import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
CONFIG = osp.join(
    REPO, 'configs', 'mixing', 'mask-rcnn_r50_fpn_blender_1x_coco.py'
)
DATA = osp.join(REPO, 'demo', 'data', 'coco128-seg')
PHOTOS = (34, 42)  # zebra (640x425), dog (640x478)
SCALE = (224, 160)
GN8 = dict(type='GN', num_groups=8, requires_grad=True)


def small_cfg(path: str = CONFIG) -> Config:
    """A two-stage mixing config (default: Mask R-CNN's) at R-18 quarter
    width, 32-channel FPN and heads, ~224x160 inputs, no pretrained
    weights."""
    cfg = Config.fromfile(path)
    m = cfg.model
    m.backbone.update(depth=18, base_channels=16, init_cfg=None)
    m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    m.rpn_head.update(in_channels=32, feat_channels=32)
    r = m.roi_head
    r.bbox_roi_extractor.out_channels = 32
    bbox_heads = (
        r.bbox_head if isinstance(r.bbox_head, list) else [r.bbox_head]
    )  # a cascade's: one per stage
    for bbox_head in bbox_heads:
        bbox_head.update(in_channels=32, fc_out_channels=64)
    r.mask_roi_extractor.out_channels = 32
    r.mask_head.update(in_channels=32, attn_conv_channels=16)
    r.mask_head.basis.update(
        in_channels=32,
        channels=32,
        low_level_channels=16,
        sem_channels=32,
        norm_cfg=GN8,
    )
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for t in cfg[key].dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = SCALE
    return cfg


def build(cfg: Config):
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    return model


def real_batch(cfg: Config, model, ids=PHOTOS):
    """A preprocessed training batch of real coco128-seg photos with their
    GT masks, through the config's own train pipeline."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(
        data_root=DATA,
        ann_file='instances_train.json',
        data_prefix=dict(img='images/train2017/'),
        filter_cfg=None,
    )
    ds_cfg.pipeline = [t for t in ds_cfg.pipeline if t['type'] != 'RandomFlip']
    ds = DATASETS.build(ds_cfg)
    index = {ds.get_data_info(i)['img_id']: i for i in range(len(ds))}
    items = [ds[index[i]] for i in ids]
    data = dict(
        inputs=[d['inputs'] for d in items],
        data_samples=[d['data_samples'] for d in items],
    )
    return model.data_preprocessor(data, True)


@pytest.fixture(scope='module')
def cfg():
    return small_cfg()


def test_config_overrides_only_the_mask_head_types():
    """Inherits mmdet's Mask R-CNN and changes no other model key."""
    ours = Config.fromfile(CONFIG)
    import mmdet

    stock = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__),
            '.mim',
            'configs',
            'mask_rcnn',
            'mask-rcnn_r50_fpn_1x_coco.py',
        )
    )
    assert ours.model.roi_head.type == 'BlendRoIHead'
    assert ours.model.roi_head.mask_head.type == 'BlendRoIMaskHead'
    for key in (
        'backbone',
        'neck',
        'rpn_head',
        'train_cfg',
        'test_cfg',
        'data_preprocessor',
    ):
        assert ours.model[key] == stock.model[key], key
    for key in ('bbox_roi_extractor', 'bbox_head', 'mask_roi_extractor'):
        assert ours.model.roi_head[key] == stock.model.roi_head[key], key
    check_pipelines_are_mmdets(ours, stock)
    assert (
        ours.model.roi_head.mask_head.blender.bottom_resolution
        == stock.model.train_cfg.rcnn.mask_size
    )
    hooks = [h['type'] for h in ours.custom_hooks]
    assert hooks == ['DatasetCheckHook', 'FiniteLossHook']


def check_pipelines_are_mmdets(ours: Config, stock: Config) -> None:
    """The test pipeline is mmdet's; the training pipeline too, but for its
    loader, the one that skips bad image files."""
    assert (
        ours.test_dataloader.dataset.pipeline
        == stock.test_dataloader.dataset.pipeline
    )
    train = [dict(t) for t in ours.train_dataloader.dataset.pipeline]
    assert train[0]['type'] == 'LoadCheckedImageFromFile'
    train[0]['type'] = 'LoadImageFromFile'
    assert train == stock.train_dataloader.dataset.pipeline


def test_full_size_config_builds():
    model = MODELS.build(Config.fromfile(CONFIG).model)
    head = model.roi_head.mask_head
    assert type(model.roi_head).__name__ == 'BlendRoIHead'
    assert head.mask_size == 28 and head.class_agnostic
    assert head.conv_logits.out_channels == 4  # K attention maps
    assert len(head.convs) == 2


def test_trains_a_step_on_real_photos(cfg):
    model = build(cfg)
    model.train()
    data = real_batch(cfg, model)
    losses = model(**data, mode='loss')
    for key in (
        'loss_rpn_cls',
        'loss_cls',
        'loss_bbox',
        'loss_mask',
        'loss_sem',
    ):
        assert key in losses, key
    loss, log = model.parse_losses(losses)
    for name, value in log.items():
        assert torch.isfinite(torch.as_tensor(value)), name
    assert log['loss_mask'] > 0 and log['loss_sem'] > 0
    loss.backward()
    head = model.roi_head.mask_head
    for name, param in (
        ('attention predictor, first conv', head.convs[0].conv.weight),
        ('attention predictor, 1x1 conv', head.conv_logits.weight),
        ('basis module, bases conv', head.basis.bases.weight),
        (
            'basis module, low-level projection',
            head.basis.low_project.conv.weight,
        ),
        ('semantic head', head.basis.sem_logits.weight),
        ('mask RoI features (FPN)', model.neck.fpn_convs[0].conv.weight),
    ):
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_inference_detector_gives_image_size_masks(cfg):
    check_inference_detector(cfg)


def check_inference_detector(cfg: Config) -> None:
    """``inference_detector`` on a real photo: image-size bool masks, each
    pasted inside its box."""
    from mmdet.apis import inference_detector, init_detector

    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # keep an untrained model's
    torch.manual_seed(0)
    model = init_detector(cfg, device='cpu')
    path = osp.join(DATA, 'images', 'train2017', '000000000034.jpg')
    result = inference_detector(model, path)
    pred = result.pred_instances
    assert len(pred) == cfg.model.test_cfg.rcnn.max_per_img
    assert pred.masks.shape == (len(pred), 425, 640)
    assert pred.masks.dtype == torch.bool
    assert pred.masks.any()
    # pasted inside each (rescaled) box: nothing beyond the box + 1 px
    ys = torch.arange(425)[:, None]
    xs = torch.arange(640)[None]
    for mask, (x1, y1, x2, y2) in zip(pred.masks[:20], pred.bboxes[:20]):
        inside = (
            (xs >= x1 - 1) & (xs <= x2 + 1) & (ys >= y1 - 1) & (ys <= y2 + 1)
        )
        assert not (mask & ~inside).any()


def _roi_head(cfg, **changes):
    r = copy.deepcopy(cfg.model.roi_head)
    for key, value in changes.items():
        node = r
        *path, last = key.split('.')
        for p in path:
            node = node[p]
        node[last] = value
    return dict(
        r, train_cfg=cfg.model.train_cfg.rcnn, test_cfg=cfg.model.test_cfg.rcnn
    )


def test_rejects_mask_size_other_than_r(cfg):
    with pytest.raises(ValueError, match=r'mask_size=28.*R=56'):
        MODELS.build(
            _roi_head(cfg, **{'mask_head.blender.bottom_resolution': 56})
        )


def test_shared_roi_extractor_trains_and_predicts(cfg):
    """mask_roi_extractor=None (mmdet's share_roi_extractor=True): in
    training the mask features are the positives' box features (7x7), and
    the blender gets those positives' RoIs; at test time the detections go
    through the box RoI extractor."""
    shared = copy.deepcopy(cfg)
    shared.model.roi_head.mask_roi_extractor = None
    model = build(shared)
    model.train()
    head = model.roi_head.mask_head
    assert model.roi_head.share_roi_extractor
    calls = record_calls(head)
    extract = model.roi_head.bbox_roi_extractor.forward
    extractions = record_calls(model.roi_head.bbox_roi_extractor)
    data = real_batch(shared, model)
    losses = model(**data, mode='loss')
    loss, log = model.parse_losses(losses)
    for name, value in log.items():
        assert torch.isfinite(torch.as_tensor(value)), name
    assert log['loss_mask'] > 0 and log['loss_sem'] > 0
    # one blend, on the positives: each row's mask features are the box
    # features of the RoI handed to the blender with it
    ((roi_feats, _, rois),) = calls
    assert roi_feats.shape[1:] == (32, 7, 7) and 0 < len(rois) < 512
    with torch.no_grad():
        torch.testing.assert_close(roi_feats, extract(extractions[0][0], rois))
    loss.backward()
    for name, param in (
        ('attention predictor', head.conv_logits.weight),
        ('basis module', head.basis.bases.weight),
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    check_predicts_image_size_masks(model, shared)


def record_calls(module) -> list:
    """Replace ``module.forward`` by a wrapper recording each call's
    arguments."""
    calls, forward = [], module.forward
    module.forward = lambda *args: calls.append(args) or forward(*args)
    return calls


def check_predicts_image_size_masks(model, cfg: Config) -> None:
    """``mode='predict'`` on a real photo (score_thr 0): image-size masks."""
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        (result,) = model(
            **real_batch(cfg, model, ids=PHOTOS[:1]), mode='predict'
        )
    pred = result.pred_instances
    assert 0 < len(pred) <= 100
    assert pred.masks.shape == (len(pred), 425, 640)
    assert pred.masks.any()


def test_rejects_backbone_features(cfg):
    with pytest.raises(ValueError, match="feat_source='backbone'"):
        MODELS.build(
            _roi_head(cfg, **{'mask_head.basis.feat_source': 'backbone'})
        )


def test_rejects_fcn_mask_head(cfg):
    with pytest.raises(TypeError, match='BlendRoIMaskHead'):
        MODELS.build(
            _roi_head(
                cfg,
                mask_head=dict(
                    type='FCNMaskHead', in_channels=32, num_classes=80
                ),
            )
        )


def test_rejects_class_specific_masks(cfg):
    with pytest.raises(ValueError, match='class_agnostic must be True'):
        MODELS.build(_roi_head(cfg, **{'mask_head.class_agnostic': False}))


def test_rejects_semantic_head_on_p2(cfg):
    """The one-stage default sem_in_index=0 is P2 in Mask R-CNN's FPN."""
    with pytest.raises(ValueError, match=r'stride 4 .*sem_in_index=1'):
        MODELS.build(_roi_head(cfg, **{'mask_head.basis.sem_in_index': 0}))


def test_rejects_one_stage_basis_indices_on_a_p2_fpn(cfg):
    """The one-stage P3+P5 indices (0, 2) read P2+P4 here: the bases come
    out at stride 4, not 8; the error names the strides and the fix."""
    bad = copy.deepcopy(cfg)
    bad.model.roi_head.mask_head.basis.in_indices = (0, 2)
    bad.model.roi_head.mask_head.basis.num_classes = None
    model = build(bad)
    model.train()
    data = real_batch(bad, model, ids=PHOTOS[:1])
    with pytest.raises(
        ValueError,
        match=r'in_indices=\(0, 2\).*strides \(4, 16\).*'
        r'in_indices=\(1, 3\)',
    ):
        model(**data, mode='loss')


def test_dataset_check_hook_reads_the_roi_head(cfg):
    from mmblend.engine.dataset_check_hook import DatasetCheckHook

    model = build(cfg)
    counts = DatasetCheckHook.counts(model, dict(classes=tuple('abc')))
    assert ('model.roi_head.bbox_head.num_classes', 80, 3, 'classes') in counts
    assert (
        'model.roi_head.mask_head.basis.num_classes',
        80,
        3,
        'classes',
    ) in counts


def test_semantic_loss_uses_the_padded_input_size(cfg):
    model = build(cfg)
    x = tuple(
        torch.zeros(1, 32, 160 // s, 224 // s) for s in (4, 8, 16, 32, 64)
    )
    assert model.roi_head.input_shape(x) == (160, 224)


def test_docs_snippet_is_the_config(tmp_path):
    """docs/two_stage.md's Mask R-CNN snippet, verbatim, is the shipped
    config."""
    with open(osp.join(REPO, 'docs', 'two_stage.md')) as f:
        text = f.read()
    section = text.split('## Mask R-CNN, written out')[1]
    check_snippet_is_config(section, CONFIG, tmp_path)


def check_snippet_is_config(text: str, config: str, tmp_path) -> None:
    """The first ```python block of ``text`` builds the same config as the
    file ``config``."""
    code = text.split('```python\n')[1].split('```')[0]
    path = tmp_path / 'snippet.py'
    path.write_text(code)
    snippet, ours = Config.fromfile(str(path)), Config.fromfile(config)
    for key in (
        'model',
        'custom_imports',
        'custom_hooks',
        'train_dataloader',
        'test_evaluator',
    ):
        assert snippet[key] == ours[key], key


def test_batch_without_gt_trains_with_zero_mask_loss(cfg):
    """No GT: no positive RoI, finite zero mask loss, and every mask-branch
    parameter still in the graph (DDP)."""
    from mmengine.structures import InstanceData

    model = build(cfg)
    model.train()
    data = real_batch(cfg, model, ids=PHOTOS[:1])
    gt = data['data_samples'][0].gt_instances
    data['data_samples'][0].gt_instances = gt[gt.labels < 0]
    data['data_samples'][0].ignored_instances = InstanceData(
        bboxes=gt.bboxes[:0], labels=gt.labels[:0]
    )
    losses = model(**data, mode='loss')
    assert losses['loss_mask'] == 0 and torch.isfinite(losses['loss_sem'])
    loss, _ = model.parse_losses(losses)
    loss.backward()
    for name, p in model.roi_head.mask_head.named_parameters():
        assert p.grad is not None, name


def test_proto_fpn_bases_at_stride_4(cfg):
    """The other bottom module: Proto-FPN on P3-P5, bases at stride 4."""
    proto = copy.deepcopy(cfg)
    proto.model.roi_head.mask_head.basis = dict(
        type='ProtoNetBasis',
        in_channels=32,
        in_indices=(1, 2, 3),
        out_stride=4,
        channels=32,
        refine_channels=32,
        num_classes=80,
        sem_in_index=1,
        sem_channels=32,
        norm_cfg=GN8,
    )
    model = build(proto)
    model.train()
    assert model.roi_head.mask_head.blender.bases_stride == 4
    losses = model(**real_batch(proto, model, ids=PHOTOS[:1]), mode='loss')
    assert torch.isfinite(losses['loss_mask']) and losses['loss_mask'] > 0


def test_tensor_mode_returns_the_mask_logits(cfg):
    """``mode='tensor'`` (StandardRoIHead.forward, used by FLOP counters and
    exporters) goes through the blender: class-agnostic R x R logits for
    the first 100 proposals."""
    model = build(cfg)
    model.eval()
    data = real_batch(cfg, model, ids=PHOTOS[:1])
    with torch.no_grad():
        outs = model(**data, mode='tensor')
    mask_preds = outs[-1][-1]
    assert mask_preds.shape[1:] == (1, 28, 28)
    assert 0 < mask_preds.shape[0] <= 100
