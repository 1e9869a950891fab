# COCO 2017 panoptic segmentation (COCO 2018 panoptic task annotations),
# mmdet 3.x layout (mmdet's configs/_base_/datasets/coco_panoptic.py):
#   data/coco/{train2017,val2017}/
#   data/coco/annotations/panoptic_{train,val}2017.json
#   data/coco/annotations/panoptic_{train,val}2017/*.png
# LoadPanopticAnnotations gives gt_instances (things) and gt_sem_seg (things
# and stuff, VOID = 255). Evaluation: mmdet's CocoPanopticMetric, made to
# work without the official panopticapi by mmblend.compat.panopticapi
# (installed by importing mmblend: the model configs carry
# `custom_imports = dict(imports=['mmblend'])`).
# The metric reads the ground truth from `ann_file`/`seg_prefix`, so the test
# pipeline loads no annotations (it also runs on bare images, e.g.
# mmdet.apis.inference_detector).
# Loader settings (batch size, workers, samplers, filter_cfg) are those of
# coco_instance.py; the dataset type, pipelines, annotations and metric are
# panoptic. Downstream configs may override `img_scale` AND re-declare the
# pipelines (see coco_instance.py).
_base_ = './coco_instance.py'

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
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_train2017.json',
        data_prefix=dict(
            img='train2017/', seg='annotations/panoptic_train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='CocoPanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val2017.json',
    seg_prefix=data_root + 'annotations/panoptic_val2017/',
    backend_args=backend_args)
# tools/test.py: also write the predicted PNGs + json
# (<outfile_prefix>.panoptic/*.png, <outfile_prefix>.panoptic.json).
test_evaluator = dict(
    val_evaluator, outfile_prefix='./work_dirs/coco_panoptic/results')
