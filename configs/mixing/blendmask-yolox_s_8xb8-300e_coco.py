# mmdet's YOLOX-s (300 epochs on COCO) with BlendMask's mask branch (paper
# §4.3: the top layer is "an almost free add-on to most modern object
# detectors"): mmdet's own config, unchanged except what instance
# segmentation needs. BlendYOLOXHead: the top layer (one conv, shared by the
# levels) reads each level's regression tower (the input of
# multi_level_conv_reg[l]); positives are SimOTA's; scores sigmoid(obj) x
# sigmoid(cls); mask-loss weights uniform. The bottom module is the paper's
# DeepLabV3+ at width 64 on P3 + P5 of the neck (in_channels from the neck:
# 128). YOLOX's training hooks (mode switch, sync norm, EMA) act unchanged.
_base_ = [
    'mmdet::yolox/yolox_s_8xb8-300e_coco.py',
    './_base_/blendmask_branch.py',
]

img_scale = (640, 640)  # width, height

model = dict(
    type='BlendMask',
    data_preprocessor=dict(
        pad_mask=True,
        # YOLOX's multi-scale training, resizing the GT masks too (mmdet's
        # BatchSyncRandomResize resizes images and boxes only)
        batch_augments=[
            dict(
                type='BatchSyncRandomResizeWithMasks',
                random_size_range=(480, 800),
                size_divisor=32,
                interval=10,
            )
        ],
    ),
    bbox_head=dict(type='BlendYOLOXHead'),
    mask_head={{_base_.blend_rt_mask_head}},
    test_cfg=dict(mask_thr=0.5),
)

# YOLOX's pipeline made mask-aware. The mask branch needs:
# * LoadAnnotations(with_mask=True, poly2mask=False) in the dataset that
#   MultiImageMixDataset wraps: the GT masks, kept as polygons;
# * mask-aware Mosaic and MixUp: mmdet's CachedMosaic / CachedMixUp (the
#   uncached Mosaic and MixUp YOLOX uses move the boxes only); they draw
#   their partners from their own caches (the wrapper still loads the
#   partners it gives the uncached ones, unused: the same loading as YOLOX);
# * no RandomAffine (boxes only: it raises on masks): the mosaic is scaled
#   by RandomResize over YOLOX's scaling range (0.1-2) and cut to 640x640 by
#   RandomCrop, as RTMDet-Ins does (no rotation or shear);
# * RandomCrop(recompute_bbox=True): each box recomputed from its cropped
#   mask, since the mask target is the GT mask inside its GT box;
# * FilterAnnotations: instances cropped to nothing dropped (box and mask);
# * YOLOXModeSwitchHook skipping these augmentations in the last 15 epochs,
#   as it skips Mosaic, RandomAffine and MixUp in mmdet's YOLOX.
train_pipeline = [
    dict(type='CachedMosaic', img_scale=img_scale, pad_val=114.0),
    dict(
        type='RandomResize',
        scale=(img_scale[0] * 2, img_scale[1] * 2),
        ratio_range=(0.1, 2.0),
        keep_ratio=True,
    ),
    dict(
        type='RandomCrop',
        crop_size=img_scale,
        recompute_bbox=True,
        allow_negative_crop=True,
    ),
    dict(
        type='CachedMixUp',
        img_scale=img_scale,
        ratio_range=(0.8, 1.6),
        pad_val=114.0,
    ),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))
    ),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs'),
]

train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            pipeline=[
                dict(
                    type='LoadCheckedImageFromFile',
                    backend_args={{_base_.backend_args}},
                ),
                dict(
                    type='LoadAnnotations',
                    with_bbox=True,
                    with_mask=True,
                    poly2mask=False,
                ),
            ]
        ),
        pipeline=train_pipeline,
    )
)
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator

# mmdet's hooks (the mode switch now skipping the mask-aware
# augmentations; sync norm; EMA), then ours.
custom_hooks = [
    dict(
        _base_.custom_hooks[0],
        skip_type_keys=(
            'CachedMosaic',
            'RandomResize',
            'RandomCrop',
            'CachedMixUp',
        ),
    ),
    *_base_.custom_hooks[1:],
    *_base_.blend_custom_hooks,
]
