"""configs/adelaidet_zoo/ follow AdelaiDet's recipe (Base-BlendMask.yaml,
adet/config/defaults.py, detectron2's defaults) where it changes numbers:
caffe-style frozen backbone and BGR normalisation, detectron2's SGD
parameter groups, no gradient clipping, per-level Scale frozen at 1.0,
AdelaiDet's IoU loss, and the norms of its bottom module."""

import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZOO = osp.join(REPO, 'configs', 'adelaidet_zoo')


def build(name):
    cfg = Config.fromfile(osp.join(ZOO, name))
    cfg.model.backbone.init_cfg = None
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('name', ['blendmask_r50-caffe_fpn_ms-550-3x_coco.py'])
def test_zoo_solver_and_frozen_parts(name):
    cfg, model = build(name)
    assert cfg.optim_wrapper.get('clip_grad') is None
    assert cfg.model.data_preprocessor.mean == [103.53, 116.28, 123.675]
    assert cfg.model.data_preprocessor.std == [1.0, 1.0, 1.0]
    assert cfg.model.data_preprocessor.bgr_to_rgb is False
    assert cfg.model.backbone.style == 'caffe'
    assert cfg.model.bbox_head.loss_bbox.type == 'AdelaiDetIoULoss'
    # FrozenBN: no backbone norm parameter trains; stem + res2 frozen
    model.train()
    for n, p in model.backbone.named_parameters():
        if '.bn' in n or n.startswith('bn1') or 'downsample.1' in n:
            assert not p.requires_grad, n
        if n.startswith(('conv1', 'layer1.')):
            assert not p.requires_grad, n
    assert all(
        not m.training
        for m in model.backbone.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    )
    # caffe style: the stride is in the 1x1 conv
    assert model.backbone.layer2[0].conv1.stride == (2, 2)
    assert model.backbone.layer2[0].conv2.stride == (1, 1)
    # norms as in AdelaiDet: SyncBN bases, BN semantic head, GN FCOS towers
    basis = model.mask_head.basis
    assert basis.norm_cfg['type'] == 'SyncBN'
    assert type(basis.sem_convs[0].norm) is torch.nn.BatchNorm2d
    assert isinstance(model.bbox_head.cls_convs[0].norm, torch.nn.GroupNorm)

    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr, wd = 0.01, 1e-4
    seen = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            seen[names[id(p)]] = (group['lr'], group['weight_decay'])
    norms = [
        n
        for n, m in model.named_modules()
        if isinstance(
            m, (torch.nn.GroupNorm, torch.nn.modules.batchnorm._BatchNorm)
        )
    ]
    for n, (g_lr, g_wd) in seen.items():
        if n.startswith('bbox_head.scales.'):
            assert (g_lr, g_wd) == (0.0, 0.0), n
        elif any(n.rsplit('.', 1)[0] == m for m in norms):
            assert (g_lr, g_wd) == (lr, 0.0), n  # WEIGHT_DECAY_NORM 0
        else:  # weights and biases alike: BIAS_LR_FACTOR 1, decay 1e-4
            assert (g_lr, g_wd) == (lr, wd), n
    assert any(n.endswith('conv_cls.bias') for n in seen)

    # a step leaves the scales at 1.0 and moves the rest
    scales = [s.scale for s in model.bbox_head.scales]
    assert all(float(s) == 1.0 for s in scales)
    before = model.bbox_head.conv_cls.weight.detach().clone()
    loss = sum(
        (p * torch.randn_like(p)).sum()
        for p in model.bbox_head.parameters()
        if p.requires_grad
    )
    wrapper.update_params(loss)
    assert all(float(s) == 1.0 for s in scales)
    assert not torch.equal(before, model.bbox_head.conv_cls.weight)


def test_550_is_adelaidets_550_r50_3x():
    cfg, model = build('blendmask_r50-caffe_fpn_ms-550-3x_coco.py')
    head = model.bbox_head
    assert head.share_tower and len(head.cls_convs) == 3
    assert len(head.reg_convs) == 0
    assert head.strides == [8, 16, 32, 64]
    assert cfg.model.neck.num_outs == 4
    assert len(model.mask_head.basis.tower) == 2  # BASIS_MODULE.NUM_CONVS
    assert [m for m in cfg.param_scheduler if m.type == 'MultiStepLR'][
        0
    ].milestones == [210000, 250000]
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (916, 550)
