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
# mmdet's own panoptic dataset base (paths, loader settings, metric) with
# the training sampler of coco_instance.py (never ends an epoch), the test
# pipeline without annotations and the test-time outputs written. No
# `tta_pipeline`: panoptic models refuse `--tta`. Downstream configs may
# override `img_scale` AND redeclare the pipelines (see coco_instance.py).
_base_ = 'mmdet::_base_/datasets/coco_panoptic.py'

backend_args = None
img_scale = (1333, 800)

train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='PackDetInputs',
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
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline),
)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# tools/test.py: also write the predicted PNGs + json
# (<outfile_prefix>.panoptic/*.png, <outfile_prefix>.panoptic.json).
test_evaluator = dict(
    _base_.val_evaluator, outfile_prefix='./work_dirs/coco_panoptic/results'
)
