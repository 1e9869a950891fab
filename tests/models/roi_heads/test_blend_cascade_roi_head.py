"""The blender as Cascade Mask R-CNN's three mask heads: the mixing config
builds with one basis module, trains a step on real photos with mmdet's
stage loss weights and gradients reaching every stage, computes the bases
once per forward, predicts image-size masks through mmdet's inference API,
and refuses the configurations it cannot serve with clear errors."""

import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from test_blend_roi_head import (
    PHOTOS,
    REPO,
    build,
    check_inference_detector,
    check_pipelines_are_mmdets,
    check_predicts_image_size_masks,
    check_snippet_is_config,
    real_batch,
    record_calls,
)
from test_blend_roi_head import small_cfg as shrunk_cfg

CONFIG = osp.join(
    REPO, 'configs', 'mixing', 'cascade-mask-rcnn_r50_fpn_blender_1x_coco.py'
)
STOCK = ('cascade_rcnn', 'cascade-mask-rcnn_r50_fpn_1x_coco.py')


def small_cfg() -> Config:
    """The mixing config shrunk as test_blend_roi_head's."""
    return shrunk_cfg(CONFIG)


@pytest.fixture(scope='module')
def cfg():
    return small_cfg()


def test_config_overrides_only_the_mask_head_types():
    """Inherits mmdet's Cascade Mask R-CNN and changes no other model
    key."""
    ours = Config.fromfile(CONFIG)
    import mmdet

    stock = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', *STOCK)
    )
    assert ours.model.roi_head.type == 'BlendCascadeRoIHead'
    assert ours.model.roi_head.mask_head.type == 'BlendRoIMaskHead'
    for key in (
        'type',
        'backbone',
        'neck',
        'rpn_head',
        'train_cfg',
        'test_cfg',
        'data_preprocessor',
    ):
        assert ours.model[key] == stock.model[key], key
    for key in (
        'num_stages',
        'stage_loss_weights',
        'bbox_roi_extractor',
        'bbox_head',
        'mask_roi_extractor',
    ):
        assert ours.model.roi_head[key] == stock.model.roi_head[key], key
    check_pipelines_are_mmdets(ours, stock)
    R = ours.model.roi_head.mask_head.blender.bottom_resolution
    assert [c.mask_size for c in stock.model.train_cfg.rcnn] == [R] * 3
    hooks = [h['type'] for h in ours.custom_hooks]
    assert hooks == ['DatasetCheckHook', 'FiniteLossHook']


def test_docs_snippet_is_the_config(tmp_path):
    """docs/two_stage.md's config, verbatim, is the shipped config."""
    with open(osp.join(REPO, 'docs', 'two_stage.md')) as f:
        check_snippet_is_config(f.read(), CONFIG, tmp_path)


def test_full_size_config_has_one_basis_module():
    model = MODELS.build(Config.fromfile(CONFIG).model)
    heads = model.roi_head.mask_head
    assert type(model.roi_head).__name__ == 'BlendCascadeRoIHead'
    assert len(heads) == 3
    assert heads[0].basis is not None
    assert heads[1].basis is None and heads[2].basis is None
    assert model.roi_head.basis_head is heads[0]
    keys = [k for k in model.state_dict() if '.basis.' in k]
    assert keys and all(
        k.startswith('roi_head.mask_head.0.basis.') for k in keys
    )
    for head in heads:  # per-stage attention predictors
        assert head.mask_size == 28 and head.conv_logits.out_channels == 4
    assert heads[1].conv_logits.weight is not heads[2].conv_logits.weight


def test_trains_a_step_with_the_stage_loss_weights(cfg):
    """s{i}.loss_mask are stage-weighted as mmdet's; loss_sem appears once,
    unweighted; gradients reach every stage's attention predictor and the
    single basis module."""
    model = build(cfg)
    model.train()
    data = real_batch(cfg, model)
    torch.manual_seed(1)
    losses = model(**data, mode='loss')
    for key in (
        'loss_rpn_cls',
        's0.loss_cls',
        's2.loss_bbox',
        's0.loss_mask',
        's1.loss_mask',
        's2.loss_mask',
        'loss_sem',
    ):
        assert key in losses, key
    assert not any(k.endswith('loss_sem') and k != 'loss_sem' for k in losses)
    loss, log = model.parse_losses(losses)
    for name, value in log.items():
        assert torch.isfinite(torch.as_tensor(value)), name
    assert all(log[f's{i}.loss_mask'] > 0 for i in range(3))
    loss.backward()
    heads = model.roi_head.mask_head
    params = [
        (f'stage {i} attention predictor, {n}', p)
        for i, h in enumerate(heads)
        for n, p in (
            ('first conv', h.convs[0].conv.weight),
            ('1x1 conv', h.conv_logits.weight),
        )
    ]
    params += [
        ('basis module, bases conv', heads[0].basis.bases.weight),
        ('semantic head', heads[0].basis.sem_logits.weight),
    ]
    for name, param in params:
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name

    # the same step with unit stage weights: the mask losses scale by
    # mmdet's [1, 0.5, 0.25], the semantic loss does not
    model.roi_head.stage_loss_weights = [1, 1, 1]
    torch.manual_seed(1)
    with torch.no_grad():
        unit = model(**data, mode='loss')
    for i, w in enumerate(cfg.model.roi_head.stage_loss_weights):
        torch.testing.assert_close(
            losses[f's{i}.loss_mask'].detach(), w * unit[f's{i}.loss_mask']
        )
    torch.testing.assert_close(losses['loss_sem'].detach(), unit['loss_sem'])


def test_bases_computed_once_per_forward(cfg):
    model = build(cfg)
    calls = record_calls(model.roi_head.mask_head[0].basis)
    data = real_batch(cfg, model, ids=PHOTOS[:1])
    model.train()
    model(**data, mode='loss')
    assert len(calls) == 1
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        (result,) = model(**data, mode='predict')
        assert len(result.pred_instances) > 0 and len(calls) == 2
        model(**data, mode='tensor')
    assert len(calls) == 3


def test_inference_detector_gives_image_size_masks(cfg):
    check_inference_detector(cfg)


def test_test_time_mask_is_the_stages_average(cfg):
    """predict_mask pastes the mean of the three stages' probabilities on
    the final boxes (mmdet's merge_aug_masks)."""
    from mmengine.structures import InstanceData

    model = build(cfg)
    model.eval()
    head = model.roi_head
    g = torch.Generator().manual_seed(0)
    x = tuple(
        torch.randn(1, 32, 160 // s, 224 // s, generator=g)
        for s in (4, 8, 16, 32, 64)
    )
    boxes = torch.tensor([[10.0, 20, 90, 120], [100, 30, 200, 150]])
    meta = dict(
        img_shape=(160, 224),
        ori_shape=(160, 224),
        scale_factor=(1.0, 1.0),
        batch_input_shape=(160, 224),
    )
    results = InstanceData(
        bboxes=boxes, labels=torch.tensor([0, 1]), scores=torch.ones(2)
    )
    with torch.no_grad():
        (out,) = head.predict_mask(x, [meta], [results], rescale=True)
        rois = torch.cat([boxes.new_zeros(2, 1), boxes], 1)
        probs = (
            sum(
                head._mask_forward(i, x, rois)['mask_preds'].sigmoid()
                for i in range(3)
            )
            / 3
        )
        (ref,) = head.mask_head[2].predict_by_feat(
            [probs],
            [results.clone()],
            [meta],
            head.test_cfg,
            rescale=True,
            activate_map=True,
        )
    assert out.masks.shape == (2, 160, 224)
    assert torch.equal(out.masks, ref.masks)
    # stage 2's own mask alone differs from the average
    assert not torch.equal(
        head._mask_forward(2, x, rois)['mask_preds'].sigmoid(), probs
    )


def _roi_head(cfg, **changes):
    r = copy.deepcopy(cfg.model.roi_head)
    for key, value in changes.items():  # replaced, not merged
        r[key] = value
    return dict(
        r,
        train_cfg=copy.deepcopy(cfg.model.train_cfg.rcnn),
        test_cfg=cfg.model.test_cfg.rcnn,
    )


def test_rejects_a_stage_mask_size_other_than_r(cfg):
    r = _roi_head(cfg)
    r['train_cfg'][1].mask_size = 56
    with pytest.raises(
        ValueError, match=r'train_cfg\.rcnn\[1\]\.mask_size=56.*R=28'
    ):
        MODELS.build(r)


def test_per_stage_mask_head_list(cfg):
    """mmdet's list form: three dicts with one basis config build one
    basis module; a stage with another basis config is refused; stages with
    different R are refused (their test-time masks are averaged)."""
    one = cfg.model.roi_head.mask_head
    head = MODELS.build(_roi_head(cfg, mask_head=[one] * 3))
    assert [h.basis is None for h in head.mask_head] == [False, True, True]
    other = copy.deepcopy(one)
    other.basis.num_bases = 8
    with pytest.raises(ValueError, match=r'mask_head\[2\]\.basis differs'):
        MODELS.build(_roi_head(cfg, mask_head=[one, one, other]))
    big = copy.deepcopy(one)
    big.blender.bottom_resolution = 56
    with pytest.raises(
        ValueError,
        match=r'mask_head\[1\]\.blender\.'
        r'bottom_resolution=56 differs',
    ):
        MODELS.build(_roi_head(cfg, mask_head=[one, big, one]))


def test_rejects_fcn_mask_heads(cfg):
    with pytest.raises(TypeError, match='use CascadeRoIHead'):
        MODELS.build(
            _roi_head(
                cfg,
                mask_head=dict(
                    type='FCNMaskHead', in_channels=32, num_classes=80
                ),
            )
        )


def test_rejects_semantic_head_on_p2(cfg):
    r = _roi_head(cfg)
    r['mask_head'].basis.sem_in_index = 0
    with pytest.raises(ValueError, match=r'stride 4 .*sem_in_index=1'):
        MODELS.build(r)


def test_shared_roi_extractor_trains_and_predicts(cfg):
    """mask_roi_extractor=None: each stage's mask features come from its
    box RoI extractor (7x7)."""
    shared = copy.deepcopy(cfg)
    shared.model.roi_head.mask_roi_extractor = None
    model = build(shared)
    assert model.roi_head.share_roi_extractor
    calls = [record_calls(h) for h in model.roi_head.mask_head]
    model.train()
    data = real_batch(shared, model)
    loss, log = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    assert all(log[f's{i}.loss_mask'] > 0 for i in range(3))
    for c in calls:
        assert len(c) == 1 and c[0][0].shape[1:] == (32, 7, 7)
    loss.backward()
    for i, h in enumerate(model.roi_head.mask_head):
        assert h.conv_logits.weight.grad.abs().sum() > 0, i
    check_predicts_image_size_masks(model, shared)


def test_dataset_check_hook_reads_every_stage(cfg):
    from mmblend.engine.dataset_check_hook import DatasetCheckHook

    model = build(cfg)
    counts = DatasetCheckHook.counts(model, dict(classes=tuple('abc')))
    for i in range(3):
        assert (
            f'model.roi_head.bbox_head[{i}].num_classes',
            80,
            3,
            'classes',
        ) in counts
    assert (
        'model.roi_head.mask_head.basis.num_classes',
        80,
        3,
        'classes',
    ) in counts
