# mmdet's RTMDet-s (300 epochs on COCO) with BlendMask's mask branch
# (paper §4.3: the top layer is "an almost free add-on to most modern object
# detectors"): mmdet's own config, unchanged except what instance
# segmentation needs. BlendRTMDetSepBNHead: the top layer (one conv, shared
# by the levels) reads each level's box tower (the input of rtm_reg[l]);
# positives are RTMDet's DynamicSoftLabelAssigner's, given the GT boxes as in
# detection; scores sigmoid(cls); mask-loss weights uniform. The bottom
# module is the paper's DeepLabV3+ at width 64 on P3 + P5 (indices 0 and 2
# of the neck's P3-P5); its in_channels comes from the neck (128 here).
_base_ = [
    'mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py',
    './_base_/blendmask_branch.py',
]

model = dict(
    type='BlendMask',
    data_preprocessor=dict(pad_mask=True),
    bbox_head=dict(type='BlendRTMDetSepBNHead'),
    mask_head={{_base_.blend_rt_mask_head}},
    test_cfg=dict(mask_thr=0.5),
)

# RTMDet's pipelines made mask-aware as mmdet's RTMDet-Ins does
# (rtmdet-ins_s_8xb32-300e_coco.py). The mask branch needs:
# * LoadAnnotations(with_mask=True, poly2mask=False): the GT masks, kept as
#   polygons (cheap through Mosaic, MixUp, resizing and cropping);
# * CachedMosaic / CachedMixUp: mmdet's mask-aware Mosaic and MixUp (the
#   uncached Mosaic and MixUp move the boxes only);
# * RandomCrop(recompute_bbox=True): each box recomputed from its cropped
#   mask, since the mask target is the GT mask inside its GT box;
# * FilterAnnotations(min_gt_bbox_wh=(1, 1)): instances cropped to nothing
#   dropped (box and mask together);
# * the same in the second-stage pipeline that PipelineSwitchHook switches to
#   for the last 20 epochs (mmdet's is box-only).
train_pipeline = [
    dict(
        type='LoadCheckedImageFromFile', backend_args={{_base_.backend_args}}
    ),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='CachedMosaic', img_scale=(640, 640), pad_val=114.0),
    dict(
        type='RandomResize',
        scale=(1280, 1280),
        ratio_range=(0.5, 2.0),
        keep_ratio=True,
    ),
    dict(
        type='RandomCrop',
        crop_size=(640, 640),
        recompute_bbox=True,
        allow_negative_crop=True,
    ),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=(640, 640), pad_val=dict(img=(114, 114, 114))),
    dict(
        type='CachedMixUp',
        img_scale=(640, 640),
        ratio_range=(1.0, 1.0),
        max_cached_images=20,
        pad_val=(114, 114, 114),
    ),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1)),
    dict(type='PackDetInputs'),
]

train_pipeline_stage2 = [
    dict(
        type='LoadCheckedImageFromFile', backend_args={{_base_.backend_args}}
    ),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.5, 2.0),
        keep_ratio=True,
    ),
    dict(
        type='RandomCrop',
        crop_size=(640, 640),
        recompute_bbox=True,
        allow_negative_crop=True,
    ),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=(640, 640), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = val_evaluator

# mmdet's hooks (EMA; the pipeline switch, now to the mask-aware stage-2
# pipeline), then ours.
custom_hooks = [
    _base_.custom_hooks[0],
    dict(_base_.custom_hooks[1], switch_pipeline=train_pipeline_stage2),
    *_base_.blend_custom_hooks,
]
