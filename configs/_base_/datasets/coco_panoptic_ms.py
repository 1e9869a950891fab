# COCO panoptic with multi-scale training: shorter side chosen from
# 640..800 (step 32), longer side <= 1333 (FCOS/AdelaiDet scale jitter, the
# paper's "[640, 800]" for the panoptic 3x models). Test scale: `img_scale`
# (base).
_base_ = './coco_panoptic.py'

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
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
