"""mmdet's own unit tests of each host head, with the ``Blend`` class
substituted: the same head arguments, inputs and checks as the mmdet test
named in each case (tests/test_models/test_dense_heads/ of
open-mmlab/mmdetection, not installed with mmdet; reproduced, not copied),
written against mmdet 3's API. The only difference is the Blend contract:
``forward`` returns the box towers first, and ``loss_by_feat`` /
``predict_by_feat`` take them first (image metas by keyword)."""

import math

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData

from mmblend.models.dense_heads import (
    BlendATSSHead,
    BlendDDODHead,
    BlendFCOSHead,
    BlendGFLHead,
    BlendNASFCOSHead,
    BlendPISARetinaHead,
    BlendRetinaHead,
    BlendRetinaSepBNHead,
    BlendRTMDetHead,
    BlendRTMDetSepBNHead,
    BlendTOODHead,
    BlendVFNetHead,
    BlendYOLOFHead,
    BlendYOLOXHead,
)

S = 256
METAS = [dict(img_shape=(S, S, 3), pad_shape=(S, S, 3), scale_factor=1)]
STRIDES = [8, 16, 32, 64, 128]
ONE_STRIDE_ANCHORS = dict(
    type='AnchorGenerator',
    ratios=[1.0],
    octave_base_scale=8,
    scales_per_octave=1,
    strides=STRIDES,
)
FOCAL = dict(
    type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0
)
GIOU = dict(type='GIoULoss', loss_weight=2.0)
ATSS_CFG = dict(
    assigner=dict(type='ATSSAssigner', topk=9),
    allowed_border=-1,
    pos_weight=-1,
    debug=False,
)
ONE_GT = dict(
    bboxes=torch.Tensor([[23.6667, 23.8757, 238.6326, 151.8874]]),
    labels=torch.LongTensor([2]),
)


def no_gt():
    return InstanceData(
        bboxes=torch.empty((0, 4)), labels=torch.LongTensor([])
    )


def feats(channels, sizes, s=S):
    return [
        torch.rand(1, channels, math.ceil(s / n), math.ceil(s / n))
        for n in sizes
    ]


def losses(head, x, gt, metas=METAS):
    """``head.loss_by_feat`` on ``head.forward(x)``; each loss summed."""
    towers, *outs = head.forward(x)
    assert len(towers) == len(x)  # the Blend contract: box towers first
    out = head.loss_by_feat(towers, *outs, [gt], metas)
    return {
        k: float(sum(v) if isinstance(v, (list, tuple)) else v.sum())
        for k, v in out.items()
    }


def check_empty_and_one_gt(
    head, x, empty_zero, empty_positive, one_positive, metas=METAS
):
    """The check of mmdet's head tests: no GT gives the listed losses zero
    (no positives) and the others positive; one GT makes all positive."""
    empty = losses(head, x, no_gt(), metas)
    for key in empty_zero:
        assert empty[key] == 0, key
    for key in empty_positive:
        assert empty[key] > 0, key
    one = losses(head, x, InstanceData(**ONE_GT), metas)
    for key in one_positive:
        assert one[key] > 0, key


@pytest.fixture(autouse=True)
def no_runner_loop():
    """TOOD reads the epoch from the message hub; no loop length is set
    outside a runner."""
    hub = MessageHub.get_current_instance()
    hub.runtime_info.pop('max_epochs', None)
    yield hub
    hub.runtime_info.pop('epoch', None)


def test_atss_head_loss():
    """mmdet test_atss_head.py::TestATSSHead::test_atss_head_loss."""
    head = BlendATSSHead(
        num_classes=4,
        in_channels=1,
        stacked_convs=1,
        feat_channels=1,
        norm_cfg=None,
        train_cfg=Config(ATSS_CFG),
        anchor_generator=ONE_STRIDE_ANCHORS,
        loss_cls=FOCAL,
        loss_bbox=GIOU,
    )
    check_empty_and_one_gt(
        head,
        feats(1, STRIDES),
        ('loss_bbox', 'loss_centerness'),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox', 'loss_centerness'),
    )


def test_gfl_head_loss():
    """mmdet test_gfl_head.py::test_gfl_head_loss (its feature sizes)."""
    head = BlendGFLHead(
        num_classes=4,
        in_channels=1,
        train_cfg=Config(ATSS_CFG),
        anchor_generator=ONE_STRIDE_ANCHORS,
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0,
        ),
        loss_bbox=GIOU,
    )
    check_empty_and_one_gt(
        head,
        feats(1, [4, 8, 16, 32, 64]),
        ('loss_bbox', 'loss_dfl'),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox', 'loss_dfl'),
    )


def test_anchor_head_loss_on_retina():
    """mmdet test_anchor_head.py::TestAnchorHead::test_anchor_head_loss
    (mmdet has no RetinaHead test; RetinaHead is an AnchorHead), with
    RetinaNet's own anchors and feature sizes at their strides."""
    cfg = Config(
        dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.7,
                neg_iou_thr=0.3,
                min_pos_iou=0.3,
                match_low_quality=True,
                ignore_iof_thr=-1,
            ),
            sampler=dict(
                type='RandomSampler',
                num=256,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=False,
            ),
            allowed_border=0,
            pos_weight=-1,
            debug=False,
        )
    )
    head = BlendRetinaHead(num_classes=4, in_channels=1, train_cfg=cfg)
    check_empty_and_one_gt(
        head,
        feats(1, STRIDES),
        ('loss_bbox',),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox'),
    )


@pytest.mark.parametrize(
    'cls,channels', [(BlendFCOSHead, 1), (BlendNASFCOSHead, 2)]
)
def test_fcos_head_loss(cls, channels):
    """mmdet test_fcos_head.py::TestFCOSHead::test_fcos_head_loss (centre
    sampling and norm_on_bbox included) and test_nasfcos_head.py::
    TestNASFCOSHead::test_nasfcos_head_loss (2 channels: its deformable
    groups)."""
    head = cls(
        num_classes=4,
        in_channels=channels,
        feat_channels=channels,
        norm_cfg=None,
        **(dict(stacked_convs=1) if cls is BlendFCOSHead else {}),
    )
    x = feats(channels, [s for s, _ in head.prior_generator.strides])
    keys = ('loss_cls', 'loss_bbox', 'loss_centerness')
    check_empty_and_one_gt(head, x, keys[1:], keys[:1], keys)
    if cls is BlendFCOSHead:
        for attr in ('center_sampling', 'norm_on_bbox'):
            setattr(head, attr, True)
            one = losses(head, x, InstanceData(**ONE_GT))
            assert all(one[k] > 0 for k in keys), attr


def test_tood_head_loss(no_runner_loop):
    """mmdet test_tood_head.py::test_tood_head_loss: both assigners (epoch 0:
    ATSS; epoch 10: task-aligned), set through the message hub as mmdet 3's
    TOODHead reads it."""
    train_cfg = Config(
        dict(
            initial_epoch=4,
            initial_assigner=dict(type='ATSSAssigner', topk=9),
            assigner=dict(type='TaskAlignedAssigner', topk=13),
            alpha=1,
            beta=6,
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        )
    )
    test_cfg = Config(
        dict(
            nms_pre=1000,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=100,
        )
    )
    head = BlendTOODHead(
        num_classes=80,
        in_channels=1,
        stacked_convs=6,
        feat_channels=256,
        anchor_type='anchor_free',
        anchor_generator=ONE_STRIDE_ANCHORS,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0] * 4,
            target_stds=[0.1, 0.1, 0.2, 0.2],
        ),
        initial_loss_cls=dict(FOCAL, activated=True),
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            activated=True,
            beta=2.0,
            loss_weight=1.0,
        ),
        loss_bbox=GIOU,
        train_cfg=train_cfg,
        test_cfg=test_cfg,
    )
    head.init_weights()
    x = feats(1, STRIDES)
    for epoch in (0, 10):
        no_runner_loop.update_info('epoch', epoch)
        check_empty_and_one_gt(
            head, x, ('loss_bbox',), ('loss_cls',), ('loss_cls', 'loss_bbox')
        )


def yolox(**kwargs):
    return BlendYOLOXHead(
        num_classes=4, in_channels=1, stacked_convs=1, **kwargs
    )


def test_yolox_init_weights():
    """mmdet test_yolox_head.py::TestYOLOXHead::test_init_weights."""
    from mmengine.model import bias_init_with_prob

    head = yolox(use_depthwise=False)
    head.init_weights()
    bias = bias_init_with_prob(0.01)
    for conv_cls, conv_obj in zip(
        head.multi_level_conv_cls, head.multi_level_conv_obj
    ):
        torch.testing.assert_close(
            conv_cls.bias.data, torch.full_like(conv_cls.bias, bias)
        )
        torch.testing.assert_close(
            conv_obj.bias.data, torch.full_like(conv_obj.bias, bias)
        )


def test_yolox_predict_by_feat():
    """mmdet test_yolox_head.py::TestYOLOXHead::test_predict_by_feat (with
    and without rescaling and NMS)."""
    metas = [dict(img_shape=(S, S, 3), scale_factor=(1.0, 1.0))]
    test_cfg = Config(
        dict(score_thr=0.01, nms=dict(type='nms', iou_threshold=0.65))
    )
    head = yolox(use_depthwise=False, test_cfg=test_cfg)
    towers, *outs = head.forward(feats(1, [4, 8, 16]))
    for rescale, with_nms in ((True, True), (False, False)):
        head.predict_by_feat(
            towers,
            *outs,
            batch_img_metas=metas,
            cfg=test_cfg,
            rescale=rescale,
            with_nms=with_nms,
        )


def test_yolox_loss_by_feat():
    """mmdet test_yolox_head.py::TestYOLOXHead::test_loss_by_feat: no GT,
    one GT (depthwise head with the L1 loss, on the first head's outputs)
    and a GT out of the image."""
    from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule

    metas = [dict(img_shape=(S, S, 3), scale_factor=1)]
    train_cfg = Config(
        dict(
            assigner=dict(
                type='SimOTAAssigner',
                center_radius=2.5,
                candidate_topk=10,
                iou_weight=3.0,
                cls_weight=1.0,
            )
        )
    )
    head = yolox(use_depthwise=False, train_cfg=train_cfg)
    assert not head.use_l1
    assert isinstance(head.multi_level_cls_convs[0][0], ConvModule)
    towers, *outs = head.forward(feats(1, [4, 8, 16]))

    def run(h, gt):
        out = h.loss_by_feat(towers, *outs, [gt], metas)
        return {k: float(v.sum()) for k, v in out.items()}

    empty = run(head, no_gt())
    assert empty['loss_cls'] == 0 and empty['loss_bbox'] == 0
    assert empty['loss_obj'] > 0
    head = yolox(use_depthwise=True, train_cfg=train_cfg)
    assert isinstance(
        head.multi_level_cls_convs[0][0], DepthwiseSeparableConvModule
    )
    head.use_l1 = True
    one = run(head, InstanceData(**ONE_GT))
    assert all(
        one[k] > 0 for k in ('loss_cls', 'loss_bbox', 'loss_obj', 'loss_l1')
    )
    outside = run(
        head,
        InstanceData(
            bboxes=torch.Tensor([[S * 4, S * 4, S * 4 + 10, S * 4 + 10]]),
            labels=torch.LongTensor([2]),
        ),
    )
    assert outside['loss_cls'] == 0 and outside['loss_bbox'] == 0
    assert outside['loss_obj'] > 0


@pytest.mark.parametrize('cls', [BlendRTMDetHead, BlendRTMDetSepBNHead])
def test_rtmdet_head_loss_and_predict(cls):
    """mmdet 3.3 ships no RTMDet head test: the checks of its ATSS/TOOD
    tests (no GT, one GT) with RTMDet's assigner and losses, and of its
    YOLOX predict test."""
    train_cfg = Config(
        dict(
            assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        )
    )
    test_cfg = Config(
        dict(
            nms_pre=1000,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=100,
        )
    )
    head = cls(
        num_classes=4,
        in_channels=1,
        feat_channels=8,
        stacked_convs=1,
        anchor_generator=dict(
            type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]
        ),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0,
        ),
        loss_bbox=GIOU,
        norm_cfg=dict(type='BN'),
        train_cfg=train_cfg,
        test_cfg=test_cfg,
    )
    head.init_weights()
    x = feats(1, [8, 16, 32])
    check_empty_and_one_gt(
        head, x, ('loss_bbox',), ('loss_cls',), ('loss_cls', 'loss_bbox')
    )
    head.eval()
    towers, *outs = head.forward(x)
    metas = [dict(img_shape=(S, S, 3), scale_factor=(1.0, 1.0))]
    for rescale, with_nms in ((True, True), (False, False)):
        head.predict_by_feat(
            towers,
            *outs,
            batch_img_metas=metas,
            cfg=test_cfg,
            rescale=rescale,
            with_nms=with_nms,
        )


def test_vfnet_head_loss():
    """mmdet test_vfnet_head.py::test_vfnet_head_loss (which runs on CUDA
    only; the CPU ops suffice here)."""
    head = BlendVFNetHead(
        num_classes=4,
        in_channels=1,
        train_cfg=Config(ATSS_CFG),
        loss_cls=dict(type='VarifocalLoss', use_sigmoid=True, loss_weight=1.0),
    )
    check_empty_and_one_gt(
        head,
        feats(1, [4, 8, 16, 32, 64]),
        ('loss_bbox',),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox'),
    )


def test_ddod_head_loss():
    """mmdet test_ddod_head.py::TestDDODHead::test_ddod_head_loss."""
    cfg = Config(
        dict(
            assigner=dict(type='ATSSAssigner', topk=9, alpha=0.8),
            reg_assigner=dict(type='ATSSAssigner', topk=9, alpha=0.5),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        )
    )
    head = BlendDDODHead(
        num_classes=4,
        in_channels=1,
        stacked_convs=1,
        feat_channels=1,
        use_dcn=False,
        norm_cfg=None,
        train_cfg=cfg,
        anchor_generator=ONE_STRIDE_ANCHORS,
        loss_cls=FOCAL,
        loss_bbox=GIOU,
        loss_iou=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
    )
    check_empty_and_one_gt(
        head,
        feats(1, STRIDES),
        ('loss_bbox', 'loss_iou'),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox', 'loss_iou'),
    )


def test_yolof_head_loss():
    """mmdet test_yolof_head.py::test_yolof_head_loss."""
    cfg = Config(
        dict(
            assigner=dict(
                type='UniformAssigner', pos_ignore_thr=0.15, neg_ignore_thr=0.7
            ),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        )
    )
    head = BlendYOLOFHead(
        num_classes=4,
        in_channels=1,
        reg_decoded_bbox=True,
        train_cfg=cfg,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            scales=[1, 2, 4, 8, 16],
            strides=[32],
        ),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0] * 4,
            target_stds=[1.0] * 4,
            add_ctr_clamp=True,
            ctr_clamp=32,
        ),
        loss_cls=FOCAL,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
    )
    check_empty_and_one_gt(
        head,
        feats(1, [32]),
        ('loss_bbox',),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox'),
    )


def test_pisa_retinanet_head_loss():
    """mmdet test_pisa_retinanet_head.py::TestPISARetinaHead::
    test_pisa_reitnanet_head_loss (300-px image)."""
    s = 300
    metas = [dict(img_shape=(s, s), pad_shape=(s, s), scale_factor=1)]
    cfg = Config(
        dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1,
            ),
            isr=dict(k=2.0, bias=0.0),
            carl=dict(k=1.0, bias=0.2),
            sampler=dict(type='PseudoSampler'),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        )
    )
    head = BlendPISARetinaHead(
        num_classes=4,
        in_channels=1,
        stacked_convs=1,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=STRIDES,
        ),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0] * 4,
            target_stds=[1.0] * 4,
        ),
        loss_cls=FOCAL,
        loss_bbox=dict(type='SmoothL1Loss', beta=0.11, loss_weight=1.0),
        train_cfg=cfg,
    )
    keys = ('loss_cls', 'loss_bbox', 'loss_carl')
    check_empty_and_one_gt(
        head, feats(1, STRIDES, s), keys[1:], keys[:1], keys, metas
    )


def test_retina_sepbn_head_init_and_loss():
    """mmdet test_retina_sepBN_head.py::TestRetinaSepBNHead::test_init and
    ::test_retina_sepbn_head_loss (its feature sizes)."""
    head = BlendRetinaSepBNHead(num_classes=1, num_ins=1, in_channels=1)
    head.init_weights()
    assert head.cls_convs and head.reg_convs
    assert head.retina_cls and head.retina_reg
    cfg = Config(
        dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1,
            ),
            sampler=dict(type='PseudoSampler'),
            allowed_border=-1,
            pos_weight=-1,
            debug=False,
        )
    )
    head = BlendRetinaSepBNHead(
        num_classes=4, num_ins=5, in_channels=1, train_cfg=cfg
    )
    check_empty_and_one_gt(
        head,
        feats(1, [4, 8, 16, 32, 64]),
        ('loss_bbox',),
        ('loss_cls',),
        ('loss_cls', 'loss_bbox'),
    )
