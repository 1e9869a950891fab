# COCO person keypoints with multi-scale training, detectron2's keypoint
# R-CNN recipe (INPUT.MIN_SIZE_TRAIN 640..800 step 32, max 1333): the
# shorter side drawn from {640, 672, ..., 800}. Test scale: `img_scale`.
_base_ = './coco_person_keypoints.py'

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
        type='LoadAnnotationsWithKeypoints',
        with_bbox=True,
        with_mask=True,
        poly2mask=False,
    ),
    dict(
        type='RandomChoiceResize',
        scales=train_scales,
        keep_ratio=True,
        resize_type='ResizeWithKeypoints',
    ),
    dict(type='RandomFlipWithKeypoints', prob=0.5),
    dict(type='PackDetInputsWithKeypoints'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
