# The demo's variant without ImageNet weights (`make demo` uses
# blendmask-light_effnet-lite0_fpn_1xb8-800iter_coco128.py, which inherits
# this one and swaps the backbone): BlendMask trained from scratch on the 88 coco128-seg training
# images on a 2-core CPU in about 14 minutes. Deliberately light and fast:
# R-18 at half width, 64-channel FPN and heads, 2-conv towers, ~256 px
# inputs, batch 8, R_K_M = 28_4_7. Same architecture family as the paper's
# models (DeepLabV3+ bases on P3+P5 with the semantic loss, FCOS with GN
# towers), only smaller. See README "Demo" for the numbers it reaches.
_base_ = [
    '../_base_/models/blendmask_r50_fpn.py',
    '../_base_/datasets/coco128_instance.py',
    '../_base_/default_runtime.py',
]

img_scale = (384, 256)
gn = dict(type='GN', num_groups=16, requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None,
    ),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    bbox_head=dict(
        in_channels=64, feat_channels=64, stacked_convs=2, norm_cfg=gn
    ),
    mask_head=dict(
        basis=dict(
            channels=64, low_level_channels=32, sem_channels=64, norm_cfg=gn
        ),
        blender=dict(bottom_resolution=28, attn_size=7),
    ),
)

backend_args = None
train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(
        type='PackDetInputs',
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
    ),
]
# --tta: the test scale and 1.25x it, each as is and flipped.
tta_scales = [img_scale, (480, 320)]
tta_pipeline = [
    test_pipeline[0],
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=s, keep_ratio=True)
                for s in tta_scales
            ],
            [
                dict(type='RandomFlip', prob=1.0),
                dict(type='RandomFlip', prob=0.0),
            ],
            [
                dict(
                    type='LoadAnnotations',
                    with_bbox=True,
                    with_mask=True,
                    poly2mask=False,
                )
            ],
            [
                dict(
                    type='PackDetInputs',
                    meta_keys=(
                        'img_id',
                        'img_path',
                        'ori_shape',
                        'img_shape',
                        'scale_factor',
                        'flip',
                        'flip_direction',
                    ),
                )
            ],
        ],
    ),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(pipeline=train_pipeline, filter_cfg=dict(min_size=8)),
)
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 1200
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters + 1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters,
        eta_min=1e-5,
        by_epoch=False,
        begin=0,
        end=max_iters,
    ),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
)
log_processor = dict(window_size=20)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
