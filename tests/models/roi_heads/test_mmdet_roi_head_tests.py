"""mmdet's own unit tests of the host RoI heads, with our classes
substituted: BlendRoIHead for StandardRoIHead, BlendCascadeRoIHead for
CascadeRoIHead, and BlendRoIMaskHead (R = the test's ``mask_size``) for
FCNMaskHead.

Mirrored (mmdet 3.x, read from open-mmlab/mmdetection, not installed with
the package): ``tests/test_models/test_roi_heads/test_standard_roi_head.py``
(``TestStandardRoIHead.test_init`` and ``test_standard_roi_head_loss``, both
of its configs: FPN with a mask RoI extractor, and C4 with a ``shared_head``
and ``mask_roi_extractor=None``) and ``test_cascade_roi_head.py``
(``TestCascadeRoIHead.test_init`` and ``test_cascade_roi_head_loss``, on
``cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py``: here our mixing
config, which is that config with the substitution). Same configs,
features, inputs (``mmdet.testing``'s ``demo_mm_inputs`` /
``demo_mm_proposals``) and assertions. mmdet skips the loss tests without
CUDA ("RoI pooling only support in GPU"); mmcv's CPU ops run them here.
Deviation: the cascade's features are 256 channels wide, as its config
declares (mmdet's 1-channel features only reach its 256-channel heads
because the RoI extractor broadcasts them; the basis module reads the
features themselves).
"""

import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs, demo_mm_proposals
from mmengine.config import Config
from test_blend_cascade_roi_head import CONFIG as CASCADE_CONFIG

S = 256
GN8 = dict(type='GN', num_groups=8, requires_grad=True)


def _fake_roi_head(with_shared_head=False) -> Config:
    """mmdet's ``_fake_roi_head`` with our classes: the RoI head's type and
    its FCNMaskHead (``num_convs``, ``conv_out_channels`` as mmdet's, unused
    by the blender head) replaced by a BlendRoIMaskHead."""
    assigner = dict(
        type='MaxIoUAssigner',
        pos_iou_thr=0.5,
        neg_iou_thr=0.5,
        min_pos_iou=0.5,
        match_low_quality=not with_shared_head,
        ignore_iof_thr=-1,
    )
    sampler = dict(
        type='RandomSampler',
        num=512,
        pos_fraction=0.25,
        neg_pos_ub=-1,
        add_gt_as_proposals=True,
    )
    test_cfg = dict(
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100,
        mask_thr_binary=0.5,
    )
    if not with_shared_head:
        mask_size = 28
        heads = dict(
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(
                    type='RoIAlign', output_size=7, sampling_ratio=0
                ),
                out_channels=1,
                featmap_strides=[4, 8, 16, 32],
            ),
            bbox_head=dict(
                type='Shared2FCBBoxHead',
                in_channels=1,
                fc_out_channels=1,
                num_classes=4,
            ),
            mask_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(
                    type='RoIAlign', output_size=14, sampling_ratio=0
                ),
                out_channels=1,
                featmap_strides=[4, 8, 16, 32],
            ),
            mask_head=dict(
                type='BlendRoIMaskHead',
                num_convs=1,
                in_channels=1,
                conv_out_channels=1,
                num_classes=4,
                # P3+P5 of the P2..P5 features, semantic head on P3
                basis=dict(
                    type='DeepLabV3PlusBasis',
                    in_channels=1,
                    in_indices=(1, 3),
                    channels=16,
                    low_level_channels=8,
                    num_classes=4,
                    sem_in_index=1,
                    sem_channels=16,
                    norm_cfg=GN8,
                ),
                blender=dict(bottom_resolution=mask_size),
            ),
        )
    else:
        mask_size = 14
        heads = dict(
            shared_head=dict(
                type='ResLayer',
                depth=50,
                stage=3,
                stride=2,
                dilation=1,
                style='caffe',
                norm_cfg=dict(type='BN', requires_grad=False),
                norm_eval=True,
            ),
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(
                    type='RoIAlign', output_size=14, sampling_ratio=0
                ),
                out_channels=1,
                featmap_strides=[16],
            ),
            bbox_head=dict(
                type='BBoxHead',
                with_avg_pool=True,
                in_channels=2048,
                roi_feat_size=7,
                num_classes=4,
            ),
            mask_roi_extractor=None,
            mask_head=dict(
                type='BlendRoIMaskHead',
                num_convs=0,
                in_channels=2048,
                conv_out_channels=1,
                num_classes=4,
                # ProtoNet on the one (stride-16) C4 level: bases at 8
                basis=dict(
                    type='ProtoNetBasis',
                    in_channels=1024,
                    in_indices=(0,),
                    out_stride=8,
                    channels=16,
                    num_classes=4,
                    sem_in_index=0,
                    sem_stride=16,
                    sem_channels=16,
                    norm_cfg=GN8,
                ),
                blender=dict(bottom_resolution=mask_size),
            ),
        )
    return Config(
        dict(
            type='BlendRoIHead',
            **heads,
            train_cfg=dict(
                assigner=assigner,
                sampler=sampler,
                mask_size=mask_size,
                pos_weight=-1,
                debug=False,
            ),
            test_cfg=test_cfg,
        )
    )


def get_roi_head_cfg(fname: str) -> Config:
    """``mmdet.testing.get_roi_head_cfg`` for a config file of ours."""
    model = copy.deepcopy(Config.fromfile(fname).model)
    roi_head = model.roi_head
    roi_head.update(
        dict(train_cfg=model.train_cfg.rcnn, test_cfg=model.test_cfg.rcnn)
    )
    return roi_head


def _inputs(num_items):
    image_shapes = [(3, S, S)]
    samples = demo_mm_inputs(
        batch_size=1,
        image_shapes=image_shapes,
        num_items=[num_items],
        num_classes=4,
        with_mask=True,
    )['data_samples']
    return demo_mm_proposals(image_shapes, 100), samples


def test_standard_init():
    """TestStandardRoIHead.test_init."""
    roi_head = MODELS.build(_fake_roi_head())
    assert roi_head.with_bbox and roi_head.with_mask
    roi_head = MODELS.build(_fake_roi_head(with_shared_head=True))
    assert roi_head.with_bbox and roi_head.with_mask
    assert roi_head.with_shared_head
    assert roi_head.share_roi_extractor


@pytest.mark.parametrize('with_shared_head', [False, True])
def test_standard_roi_head_loss(with_shared_head):
    """TestStandardRoIHead.test_standard_roi_head_loss."""
    torch.manual_seed(0)
    roi_head = MODELS.build(_fake_roi_head(with_shared_head))
    feats = []
    for i in range(len(roi_head.bbox_roi_extractor.featmap_strides)):
        channels = 1024 if with_shared_head else 1
        feats.append(
            torch.rand(1, channels, S // (2 ** (i + 2)), S // (2 ** (i + 2)))
        )
    feats = tuple(feats)

    # When truth is non-empty then both cls, box, and mask loss
    # should be nonzero for random inputs
    out = roi_head.loss(feats, *_inputs(1))
    assert out['loss_cls'].sum() > 0, 'cls loss should be non-zero'
    assert out['loss_bbox'].sum() > 0, 'box loss should be non-zero'
    assert out['loss_mask'].sum() > 0, 'mask loss should be non-zero'

    # When there is no truth, the cls loss should be nonzero but
    # there should be no box and mask loss.
    out = roi_head.loss(feats, *_inputs(0))
    assert out['loss_cls'].sum() > 0, 'cls loss should be non-zero'
    assert out['loss_bbox'].sum() == 0, (
        'there should be no box loss when there are no true boxes'
    )
    assert out['loss_mask'].sum() == 0, (
        'there should be no mask loss when there are no true boxes'
    )


def test_cascade_init():
    """TestCascadeRoIHead.test_init."""
    roi_head = MODELS.build(get_roi_head_cfg(CASCADE_CONFIG))
    assert roi_head.with_bbox and roi_head.with_mask


def test_cascade_roi_head_loss():
    """TestCascadeRoIHead.test_cascade_roi_head_loss."""
    torch.manual_seed(0)
    roi_head_cfg = get_roi_head_cfg(CASCADE_CONFIG)
    roi_head = MODELS.build(roi_head_cfg)
    feats = []
    for i in range(len(roi_head_cfg.bbox_roi_extractor.featmap_strides)):
        feats.append(
            torch.rand(1, 256, S // (2 ** (i + 2)), S // (2 ** (i + 2)))
        )
    feats = tuple(feats)

    # When truth is non-empty then both cls, box, and mask loss
    # should be nonzero for random inputs
    out = roi_head.loss(feats, *_inputs(1))
    for name, value in out.items():
        if 'loss' in name:
            assert value.sum() >= 0, 'loss should be non-zero'

    # When there is no truth, the cls loss should be nonzero but
    # there should be no box and mask loss.
    out = roi_head.loss(feats, *_inputs(0))
    for name, value in out.items():
        if 'loss_cls' in name:
            assert value.sum() >= 0, 'loss should be non-zero'
        elif 'loss_bbox' in name or 'loss_mask' in name:
            assert value.sum() == 0
