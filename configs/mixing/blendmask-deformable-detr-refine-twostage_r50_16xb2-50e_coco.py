# mmdet's two-stage Deformable DETR with box refinement (R-50, 50e, COCO)
# with BlendMask's mask branch: mmdet's own config, unchanged except what
# instance segmentation needs (as blendmask-dino-4scale_r50_8xb2-12e_coco.py;
# the plain and refine-only variants take the same three overrides).
_base_ = [
    'mmdet::deformable_detr/'
    'deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
    './_base_/blendmask_branch.py',
    './_base_/detr_instance_pipeline.py',
]

model = dict(
    type='BlendDeformableDETR',
    data_preprocessor=dict(pad_mask=True),
    bbox_head=dict(type='BlendDeformableDETRHead'),
    mask_head={{_base_.blend_mask_head}},
    test_cfg=dict(mask_thr=0.5),
)

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.blend_detr_train_pipeline}})
)
val_evaluator = dict(metric=['bbox', 'segm'])
test_evaluator = dict(metric=['bbox', 'segm'])
custom_hooks = {{_base_.blend_custom_hooks}}
