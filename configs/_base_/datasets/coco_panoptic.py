# COCO 2017 panoptic segmentation (COCO 2018 panoptic task annotations),
# mmdet 3.x layout (mmdet's configs/_base_/datasets/coco_panoptic.py):
#   data/coco/{train2017,val2017}/
#   data/coco/annotations/panoptic_{train,val}2017.json
#   data/coco/annotations/panoptic_{train,val}2017/*.png
# LoadPanopticAnnotations gives gt_instances (things) and gt_sem_seg (things
# and stuff, VOID = 255). Evaluation: mmdet's CocoPanopticMetric, made to
# work without the official panopticapi by mmblend's panopticapi_compat
# (installed by importing mmblend: the model configs carry
# `custom_imports = dict(imports=['mmblend'])`).
# The metric reads the ground truth from `ann_file`/`seg_prefix`, so the test
# pipeline loads no annotations (it also runs on bare images, e.g.
# mmdet.apis.inference_detector).
# Downstream configs may override `img_scale` AND re-declare the pipelines
# (see coco_instance.py).
dataset_type = 'CocoPanopticDataset'
data_root = 'data/coco/'
backend_args = None
img_scale = (1333, 800)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_train2017.json',
        data_prefix=dict(
            img='train2017/', seg='annotations/panoptic_train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoPanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val2017.json',
    seg_prefix=data_root + 'annotations/panoptic_val2017/',
    backend_args=backend_args)
# tools/test.py: also write the predicted PNGs + json
# (<outfile_prefix>.panoptic/*.png, <outfile_prefix>.panoptic.json).
test_evaluator = dict(
    type='CocoPanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val2017.json',
    seg_prefix=data_root + 'annotations/panoptic_val2017/',
    outfile_prefix='./work_dirs/coco_panoptic/results',
    backend_args=backend_args)
