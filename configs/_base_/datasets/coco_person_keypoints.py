# COCO 2017 person keypoints (person_keypoints_train2017 / val2017.json):
# coco_instance.py (paths, loader settings, never-ending sampler, polygon
# masks) with the keypoint dataset and transforms of mmblend/datasets/:
# * `CocoKeypointDataset`: person boxes, masks and 17 keypoints (x, y, v);
#   training drops images with no labelled keypoint (`min_keypoints=1`,
#   detectron2's MIN_KEYPOINTS_PER_IMAGE);
# * `*WithKeypoints` transforms: mmdet's Resize / RandomFlip / Pack that
#   also move the keypoints (flip swaps left and right);
# * `CocoKeypointMetric`: bbox, segm and keypoint AP (coco/keypoints_mAP).
# `--tta` is not supported (the merge keeps boxes and masks only).
_base_ = './coco_instance.py'

dataset_type = 'CocoKeypointDataset'
data_root = 'data/coco/'
backend_args = None
img_scale = (1333, 800)

train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotationsWithKeypoints',
        with_bbox=True,
        with_mask=True,
        poly2mask=False,
    ),
    dict(type='ResizeWithKeypoints', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlipWithKeypoints', prob=0.5),
    dict(type='PackDetInputsWithKeypoints'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='ResizeWithKeypoints', scale=img_scale, keep_ratio=True),
    dict(
        type='LoadAnnotationsWithKeypoints',
        with_bbox=True,
        with_mask=True,
        poly2mask=False,
    ),
    dict(
        type='PackDetInputsWithKeypoints',
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
    ),
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32, min_keypoints=1),
        pipeline=train_pipeline,
    )
)
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline,
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoKeypointMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json',
    metric=['bbox', 'segm', 'keypoints'],
)
test_evaluator = val_evaluator
