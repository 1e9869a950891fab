# BlendMask with keypoints trained from scratch on the 28 coco-mini-keypoints
# training photos on a CPU: the light setting of
# configs/demo/blendmask-light_r18_fpn_1xb8-1200iter_coco128.py (R-18 at
# half width, 64-channel FPN and heads, 2-conv towers, ~384 x 256 inputs, batch 8, AdamW) with one
# class (person) and the keypoint branch of
# _base_/models/blendmask_r50_fpn_keypoints.py at that width: 17 x 4
# keypoint bases (DeepLabV3+ of width 64 on P3+P5), one shared [4, 7, 7]
# attention, 28 x 28 heatmaps. Train with mmdet's tools/train.py, evaluate
# (box, mask and keypoint AP) with tools/test.py; for another COCO-format
# person keypoints file set the dataloaders' data_root / ann_file /
# data_prefix.img and the evaluators' ann_file (see
# _base_/datasets/coco_mini_keypoints.py). From scratch on 28 photos the
# held-out (val) keypoint AP stays near 0: it measures fitting, not
# generalisation (benchmarks/bench_keypoints.py).
_base_ = [
    '../_base_/models/blendmask_r50_fpn_keypoints.py',
    '../_base_/datasets/coco_mini_keypoints.py',
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
    keypoint_head=dict(
        basis=dict(
            in_channels=64, channels=64, low_level_channels=32, norm_cfg=gn
        ),
        blender=dict(bottom_resolution=28, attn_size=7),
        max_proposals=-1,
    ),
)

backend_args = None
train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotationsWithKeypoints',
        with_bbox=True,
        with_mask=True,
        poly2mask=False,
    ),
    dict(type='ResizeWithKeypoints', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlipWithKeypoints', prob=0.5),
    dict(type='PackDetInputsWithKeypoints'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='ResizeWithKeypoints', scale=img_scale, keep_ratio=True),
    dict(
        type='LoadAnnotationsWithKeypoints',
        with_bbox=True,
        with_mask=True,
        poly2mask=False,
    ),
    dict(
        type='PackDetInputsWithKeypoints',
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
    ),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        pipeline=train_pipeline, filter_cfg=dict(min_size=8, min_keypoints=1)
    ),
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
visualizer = dict(type='KeypointDetLocalVisualizer')
