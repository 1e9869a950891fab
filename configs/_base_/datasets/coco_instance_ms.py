# COCO instance segmentation with multi-scale training (shorter side
# 640-800, longer side <= 1333), as used by the 3x schedules (mmdet's
# *_ms-poly-3x_coco configs). Test scale: `img_scale` (base).
_base_ = './coco_instance.py'

backend_args = None
train_scales = [
    (1333, 640),
    (1333, 672),
    (1333, 704),
    (1333, 736),
    (1333, 768),
    (1333, 800),
]

train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
