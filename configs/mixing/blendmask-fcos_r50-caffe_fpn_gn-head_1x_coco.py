# mmdet's fcos R-50 1x on COCO with BlendMask's mask branch (paper §4.3:
# the top layer is "an almost free add-on to most modern object detectors"):
# mmdet's own config, unchanged except what instance segmentation needs.
# mmdet's FCOS: sigmoid(cls) thresholded, reported times sigmoid(centerness); mask-loss weights: centerness targets.
_base_ = [
    'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    './_base_/blendmask_branch.py',
]

model = dict(
    type='BlendMask',
    data_preprocessor=dict(pad_mask=True),
    bbox_head=dict(type='BlendFCOSHead'),
    mask_head={{_base_.blend_mask_head}},
    test_cfg=dict(mask_thr=0.5),
)

train_dataloader = dict(dataset=dict(pipeline={{_base_.blend_train_pipeline}}))
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = dict(metric=['bbox', 'segm'])
custom_hooks = {{_base_.blend_custom_hooks}}
