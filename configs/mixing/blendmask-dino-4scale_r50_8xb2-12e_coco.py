# mmdet's DINO 4-scale R-50 12e on COCO with BlendMask's mask branch (paper
# §4.3: "an almost free add-on to most modern object detectors"): mmdet's
# own config, unchanged except what instance segmentation needs. The top
# layer is a 2-layer MLP from each decoder query to its K*M*M attentions;
# the bases read the ChannelMapper's levels 0 and 2 (strides 8 and 32), the
# semantic loss level 0. docs/dino.md: positives, measurements, cost.
_base_ = [
    'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
    './_base_/blendmask_branch.py',
    './_base_/detr_instance_pipeline.py',
]

model = dict(
    type='BlendDINO',
    data_preprocessor=dict(pad_mask=True),
    bbox_head=dict(type='BlendDINOHead'),
    mask_head={{_base_.blend_mask_head}},
    test_cfg=dict(mask_thr=0.5),
)

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.blend_detr_train_pipeline}})
)
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = dict(metric=['bbox', 'segm'])
custom_hooks = {{_base_.blend_custom_hooks}}
