"""BlendMask with a keypoint head: the top layer widened by the keypoint
blender's channels and split between the branches, losses and predictions
with keypoints, on the hosts BlendMaskHead (AdelaiDet's FCOS) and mmdet's
ATSS (BlendATSSHead)."""

import copy
import os.path as osp

import mmdet
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from module_utils import load_module

make_batch = load_module(
    'tests/models/detectors/test_blendmask.py', 'test_blendmask_module'
).make_batch

KP_TINY = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', 'blendmask_kp_tiny.py'
)
MASK_CHANNELS = 4 * 7 * 7  # the tiny mask blender's K*M*M
KP_CHANNELS = 4 * 7 * 7  # 68 keypoint bases, one shared 4x7x7 attention


def host_cfg(name):
    """The tiny model with host ``name`` (32-channel towers; ATSS with
    mmdet's own anchors, assigner and test settings)."""
    cfg = Config.fromfile(KP_TINY)
    if name == 'BlendMaskHead':
        return cfg.model
    mim = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
    host = Config.fromfile(
        osp.join(mim, 'atss', 'atss_r50_fpn_1x_coco.py')
    ).model
    cfg.model.bbox_head = dict(
        host.bbox_head,
        type=name,
        num_classes=1,
        in_channels=32,
        feat_channels=32,
        stacked_convs=2,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
    )
    cfg.model.train_cfg = host.train_cfg
    cfg.model.test_cfg = dict(host.test_cfg, mask_thr=0.5)
    return cfg.model


def build(model_cfg):
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model


def kp_batch(num_gts=(2, 1), size=(96, 128)):
    """make_batch's rectangles with 17 keypoints each inside their box (the
    last 5 unlabelled)."""
    inputs, samples = make_batch(num_gts=num_gts, size=size, num_classes=1)
    g = torch.Generator().manual_seed(1)
    for s in samples:
        boxes = s.gt_instances.bboxes
        frac = torch.rand(len(boxes), 17, 2, generator=g)
        xy = boxes[:, None, :2] + frac * (
            boxes[:, None, 2:] - boxes[:, None, :2]
        )
        v = torch.full((len(boxes), 17, 1), 2.0)
        v[:, 12:] = 0
        s.gt_instances.keypoints = torch.cat([xy, v], dim=2) * (v > 0)
    return inputs, samples


def flat(losses):
    """Every loss tensor (ATSS gives one per level)."""
    for k, v in losses.items():
        for t in v if isinstance(v, list) else [v]:
            yield k, t


def run(model, inputs, samples, mode):
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=copy.deepcopy(samples)),
        mode == 'loss',
    )
    return model(**data, mode=mode)


@pytest.mark.parametrize('host', ['BlendMaskHead', 'BlendATSSHead'])
def test_hosts_train_and_predict_keypoints(host):
    model = build(host_cfg(host))
    assert model.bbox_head.attn_channels == MASK_CHANNELS + KP_CHANNELS
    losses = run(model, *kp_batch(), 'loss')
    assert {'loss_mask', 'loss_keypoint', 'keypoint_avg_factor'} <= set(losses)
    assert losses['keypoint_avg_factor'] > 0
    assert all(torch.isfinite(v) for _, v in flat(losses))
    sum(v for k, v in flat(losses) if 'loss' in k).backward()
    assert model.keypoint_head.basis.bases.weight.grad.abs().sum() > 0

    model.eval()
    model.bbox_head.test_cfg.score_thr = 0.0  # untrained: keep something
    inputs, samples = kp_batch()
    for s in samples:  # pretend the images were resized by 0.5
        s.set_metainfo(dict(ori_shape=(192, 256), scale_factor=(0.5, 0.5)))
    with torch.no_grad():
        results = run(model, inputs, samples, 'predict')
    for r in results:
        pred = r.pred_instances
        assert len(pred) > 0
        assert pred.keypoints.shape == (len(pred), 17, 2)
        assert pred.keypoint_scores.shape == (len(pred), 17)
        assert pred.masks.shape[1:] == (192, 256)
        # keypoints at the original scale, in the rescaled boxes (boxes
        # under 1 px count as 1 px wide, as detectron2's decoding)
        kps, boxes = pred.keypoints, pred.bboxes
        assert (
            (kps[..., 0] >= boxes[:, None, 0] - 1)
            & (kps[..., 0] <= boxes[:, None, 2] + 1)
            & (kps[..., 1] >= boxes[:, None, 1] - 1)
            & (kps[..., 1] <= boxes[:, None, 3] + 1)
        ).all()
        assert 'attns' not in pred


def test_each_branch_gets_its_share_of_the_attentions(monkeypatch):
    model = build(host_cfg('BlendMaskHead'))
    seen = {}

    def spy(head, name):
        original = head.loss

        def wrapped(*args, **kwargs):
            infos = kwargs.get('positive_infos', args[-1] if args else None)
            seen[name] = [i.attns.detach().clone() for i in infos]
            return original(*args, **kwargs)

        monkeypatch.setattr(head, 'loss', wrapped)

    spy(model.mask_head, 'mask')
    spy(model.keypoint_head, 'keypoint')
    run(model, *kp_batch(), 'loss')
    full = [i.attns.detach() for i in model.bbox_head.get_positive_infos()]
    for f, m, k in zip(full, seen['mask'], seen['keypoint']):
        assert m.shape[1] == MASK_CHANNELS and k.shape[1] == KP_CHANNELS
        torch.testing.assert_close(torch.cat([m, k], dim=1), f)


def test_without_keypoint_head_nothing_changes():
    cfg = host_cfg('BlendMaskHead')
    kp_model = build(cfg)
    cfg.pop('keypoint_head')
    model = build(cfg)
    assert model.bbox_head.attn_channels == MASK_CHANNELS
    assert not model.with_keypoint
    losses = run(model, *kp_batch(), 'loss')
    assert 'loss_keypoint' not in losses
    assert kp_model.with_keypoint


def test_tensor_mode_returns_the_keypoint_bases():
    model = build(host_cfg('BlendMaskHead')).eval()
    box_outs, (bases, sem), mask_logits, kp_bases = model(
        torch.randn(1, 3, 64, 96), mode='tensor'
    )
    assert bases.shape == (1, 4, 8, 12)
    # the mask blender got its own channels of the top layer
    R = model.mask_head.blender.bottom_resolution
    assert mask_logits.shape[0] == 1 and mask_logits.shape[2:] == (R, R)
    assert kp_bases.shape == (1, 68, 8, 12)


def test_attn_channels_mismatch_names_the_keypoint_blender():
    cfg = host_cfg('BlendMaskHead')
    cfg.bbox_head.attn_channels = MASK_CHANNELS
    with pytest.raises(ValueError, match="keypoint blender's"):
        MODELS.build(cfg)


def test_keypoints_follow_the_detections_the_mask_head_drops(monkeypatch):
    """test_cfg.clip_after_mask=True: the mask head clips boxes after the
    blender and drops the empty ones; their keypoints go with them."""
    cfg = host_cfg('BlendMaskHead')
    cfg.test_cfg.update(clip_after_mask=True, score_thr=0.0)
    model = build(cfg).eval()
    inputs, samples = kp_batch()
    H, W = inputs.shape[-2:]
    original = model.bbox_head.predict
    counts = []

    def predict(*args, **kwargs):
        results = original(*args, **kwargs)
        results[0].bboxes[0] = torch.tensor([W + 10.0, 5.0, W + 30.0, 40.0])
        counts.extend(len(r) for r in results)
        return results

    monkeypatch.setattr(model.bbox_head, 'predict', predict)
    with torch.no_grad():
        results = run(model, inputs, samples, 'predict')
    pred = results[0].pred_instances
    assert len(pred) == counts[0] - 1  # the box outside the image
    assert pred.keypoints.shape == (len(pred), 17, 2)
    assert pred.keypoint_scores.shape == (len(pred), 17)
    assert len(results[1].pred_instances.keypoints) == counts[1]
