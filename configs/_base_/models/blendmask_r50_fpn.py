# BlendMask R-50-FPN, the paper's final model (Table 8): R_K_M = 56_4_14,
# bilinear top interpolation, DeepLabV3+ bottom module of width 256 on
# P3+P5 (bases at stride 8) with the auxiliary semantic loss (weight 0.3).
# mmblend's modules are registered by `custom_imports` in
# ../default_runtime.py (set in that one base only, so that this file
# composes with any dataset, schedule and runtime base).

num_classes = 80
model = dict(
    type='BlendMask',
    data_preprocessor=dict(
        type='GrayAwareDetDataPreprocessor',  # + 2-D (gray) images
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True,
    ),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'),
    ),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True,
    ),
    bbox_head=dict(
        type='BlendMaskHead',
        num_classes=num_classes,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        center_sampling=True,
        center_sample_radius=1.5,
        norm_on_bbox=True,
        centerness_on_reg=True,
        conv_bias=True,
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0,
        ),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
    ),
    mask_head=dict(
        type='BlendMaskMaskHead',
        basis=dict(  # in_channels: the neck's out_channels
            type='DeepLabV3PlusBasis',
            in_indices=(0, 2),  # P3, P5 of the FPN outputs P3..P7
            out_stride=8,
            channels=256,
            num_bases=4,
            num_classes=num_classes,
            sem_in_index=0,
            sem_loss_weight=0.3,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        ),
        blender=dict(  # num_bases, bases_stride: the basis module's
            type='Blender',
            attn_size=14,
            bottom_resolution=56,
            pooler='RoIAlign',
            sampling_ratio=1,
            top_interp='bilinear',
            merge='blender',
        ),
    ),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100,
        mask_thr=0.5,
    ),
)
