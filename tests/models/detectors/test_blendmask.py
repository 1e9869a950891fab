"""The BlendMask detector: build from a config file, learn, predict."""

import copy
import importlib.util
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData

TINY = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', 'blendmask_tiny.py'
)


def build(cfg_path=TINY, **model_overrides):
    cfg = Config.fromfile(cfg_path)
    cfg.model.update(model_overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def make_batch(num_gts=(2, 1), size=(96, 128), num_classes=80, seed=0):
    """Images with filled rectangles as objects (shapes/math only)."""
    g = torch.Generator().manual_seed(seed)
    H, W = size
    inputs, samples = [], []
    for n in num_gts:
        img = torch.randint(0, 40, (3, H, W), generator=g).float()
        masks = torch.zeros(n, H, W, dtype=torch.uint8)
        boxes = []
        for i in range(n):
            x1, y1 = (
                int(torch.randint(0, W // 2, (1,), generator=g)),
                int(torch.randint(0, H // 2, (1,), generator=g)),
            )
            x2, y2 = x1 + 20 + 10 * i, y1 + 24 + 8 * i
            masks[i, y1:y2, x1:x2] = 1
            img[:, y1:y2, x1:x2] = 200.0 - 40 * i
            boxes.append([x1, y1, x2, y2])
        s = DetDataSample(
            metainfo=dict(
                img_shape=(H, W),
                ori_shape=(H, W),
                pad_shape=(H, W),
                batch_input_shape=(H, W),
                scale_factor=(1.0, 1.0),
            )
        )
        s.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
            labels=torch.arange(n) % num_classes,
            masks=BitmapMasks(masks.numpy(), H, W),
        )
        inputs.append(img)
        samples.append(s)
    return torch.stack(inputs), samples


def run_loss(model, inputs, samples):
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=copy.deepcopy(samples)), True
    )
    return model(**data, mode='loss')


def test_builds_from_config_and_keys():
    model = build()
    assert model.bbox_head.attn_channels == 4 * 7 * 7
    losses = run_loss(model, *make_batch())
    assert set(losses) == {
        'loss_cls',
        'loss_bbox',
        'loss_centerness',
        'loss_mask',
        'loss_sem',
        'mask_avg_factor',
    }
    assert losses['mask_avg_factor'] > 0
    assert all(torch.isfinite(v) for v in losses.values())


def test_training_lowers_loss_on_fixed_batch():
    model = build()
    model.train()
    batch = make_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = []
    for _ in range(8):
        losses = run_loss(model, *batch)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        history.append((loss.item(), losses['loss_mask'].item()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert history[-1][0] < history[0][0] * 0.8
    assert history[-1][1] < history[0][1]


def test_empty_gt_gives_finite_zero_mask_loss():
    model = build()
    losses = run_loss(model, *make_batch(num_gts=(0, 0)))
    assert losses['loss_mask'].item() == 0.0
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    # one image with, one without GT
    losses = run_loss(model, *make_batch(num_gts=(0, 2)))
    assert losses['loss_mask'].item() > 0


def test_predict_returns_image_size_masks():
    model = build().eval()
    inputs, samples = make_batch()
    for s in samples:  # pretend the image was resized by 2 from 192x256
        s.set_metainfo(dict(ori_shape=(192, 256), scale_factor=(0.5, 0.5)))
    model.bbox_head.test_cfg.score_thr = 0.0  # untrained: keep something
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), False
    )
    with torch.no_grad():
        results = model(**data, mode='predict')
    for r in results:
        pred = r.pred_instances
        assert 0 < len(pred) <= 100
        assert pred.masks.shape[1:] == (192, 256)
        assert pred.masks.dtype == torch.bool
        assert pred.bboxes.shape == (len(pred), 4)
        assert 'attns' not in pred


def test_tensor_mode_runs_the_whole_network():
    """No ground truth; the mask branch at max_per_img=100 candidates: the
    blender on the top layer at the highest-scoring priors, with the whole
    image as RoI."""
    model = build().eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 96), mode='tensor')
        (towers, cls, box, ctr), (bases, sem), masks = outs
        assert bases.shape == (2, 4, 8, 12)
        assert sem is None
        # 129 priors (8x12 + 4x6 + 2x3 + 1x2 + 1x1), 100 candidates, R=28
        assert masks.shape == (2, 100, 28, 28)
        dense = torch.cat(
            [model.bbox_head.top_layer(t)[1].flatten(1).t() for t in towers]
        )  # image 1, [129, K*M*M]
        scores = torch.cat(
            [c[1].permute(1, 2, 0).reshape(-1, 80) for c in cls]
        ).max(dim=1)[0]
        expected = model.mask_head.blender(
            bases,
            dense[scores.argmax()][None],
            torch.tensor([[1.0, 0, 0, 96, 64]]),
        )
    torch.testing.assert_close(masks[1, :1], expected, rtol=1e-4, atol=1e-5)


def test_flop_count_includes_the_mask_branch():
    """mmengine's counter, which mmdet's get_flops.py uses, counts the mask
    branch: each candidate adds the same cost, at least the top layer's
    multiply-adds at one location (3x3 conv, 32 -> K*M*M = 196)."""
    from mmengine.analysis import get_model_complexity_info

    model = build().eval()

    def flops(num_dets):
        model.test_cfg['max_per_img'] = num_dets
        return get_model_complexity_info(
            model,
            inputs=(torch.randn(1, 3, 64, 96),),
            show_table=False,
            show_arch=False,
        )['flops']

    f10, f20, f40 = flops(10), flops(20), flops(40)
    per_det = (f20 - f10) / 10
    assert f40 - f20 == 20 * per_det
    assert per_det >= 32 * 9 * 196


def test_attn_channels_mismatch_is_reported():
    cfg = Config.fromfile(TINY)
    cfg.model.bbox_head.attn_channels = 123
    with pytest.raises(ValueError, match='attn_channels'):
        MODELS.build(cfg.model)


def test_stride_mismatch_is_reported():
    cfg = Config.fromfile(TINY)
    cfg.model.mask_head.blender.bases_stride = 4
    with pytest.raises(ValueError, match='bases_stride'):
        MODELS.build(cfg.model)
    # a basis reading P4 while declaring stride 8 crops the wrong region
    cfg = Config.fromfile(TINY)
    cfg.model.mask_head.basis.in_indices = (1, 2)
    model = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='out_stride'):
        run_loss(model, *make_batch())


@pytest.mark.parametrize(
    'variant',
    ['assembler', 'one_basis', 'protonet', 'backbone_c3c5', 'p2p5', 'rt'],
)
def test_variants_train_and_predict(variant):
    cfg = Config.fromfile(TINY)
    m = cfg.model
    if variant == 'assembler':
        m.mask_head.basis.num_bases = 4
        m.mask_head.blender.update(
            merge='assembler', bottom_resolution=28, num_bases=4
        )
    elif variant == 'one_basis':
        m.mask_head.basis.num_bases = 1
        m.mask_head.blender.num_bases = 1
    elif variant == 'protonet':
        m.mask_head.basis = dict(
            type='ProtoNetBasis',
            in_channels=32,
            in_indices=(0, 1, 2),
            out_stride=4,
            channels=32,
            refine_channels=32,
            num_convs=2,
            num_bases=4,
            norm_cfg=dict(type='GN', num_groups=8),
        )
    elif variant == 'backbone_c3c5':
        m.mask_head.basis.update(
            feat_source='backbone',
            in_indices=(1, 3),
            in_channels=(32, 128),
            num_classes=None,
        )
    elif variant == 'p2p5':
        m.neck.update(start_level=0, num_outs=6)
        m.bbox_head.feat_indices = (1, 2, 3, 4, 5)
        m.mask_head.basis.update(
            in_indices=(0, 3), out_stride=4, sem_in_index=1
        )
    elif variant == 'rt':
        m.neck.update(num_outs=4)
        m.bbox_head.update(
            share_tower=True,
            strides=[8, 16, 32, 64],
            regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 1e8)),
        )
    model = MODELS.build(m)
    model.init_weights()
    losses = run_loss(model, *make_batch())
    assert all(torch.isfinite(v) for v in losses.values())
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    model.eval()
    model.bbox_head.test_cfg.score_thr = 0.0
    inputs, samples = make_batch()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), False
    )
    with torch.no_grad():
        res = model(**data, mode='predict')
    assert res[0].pred_instances.masks.shape[1:] == (96, 128)


def test_missing_pretrained_weights_fail_clearly(tmp_path):
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=str(tmp_path / 'missing.pth')
    )
    model = MODELS.build(cfg.model)
    with pytest.raises(FileNotFoundError, match='init_cfg'):
        model.init_weights()
    if importlib.util.find_spec('torchvision') is None:
        cfg.model.backbone.init_cfg.checkpoint = 'torchvision://resnet18'
        model = MODELS.build(cfg.model)
        with pytest.raises(RuntimeError, match='torchvision'):
            model.init_weights()
