# LVIS v1 instance segmentation (1203 categories) on COCO 2017 images.
# LVISV1Dataset derives the image path from `coco_url`
# (".../train2017/xxx.jpg" -> data_root + "train2017/xxx.jpg").
# Training uses repeat-factor sampling (ClassBalancedDataset, threshold
# 1e-3) and multi-scale resize, as mmdet's LVIS configs; evaluation uses
# CompatLVISMetric (mmdet's LVISMetric with the numpy-2 fix of the lvis
# package, registered by `custom_imports = dict(imports=['mmblend'])`).
# Requires the `lvis` package (requirements/runtime.txt).
custom_imports = dict(imports=['mmblend'], allow_failed_imports=False)

dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis_v1/'
backend_args = None
img_scale = (1333, 800)
train_scales = [(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)]

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True,
        poly2mask=False),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True,
        poly2mask=False),
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
        type='ClassBalancedDataset',
        oversample_thr=1e-3,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='annotations/lvis_v1_train.json',
            data_prefix=dict(img=''),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=train_pipeline,
            backend_args=backend_args)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CompatLVISMetric',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox', 'segm'],
    backend_args=backend_args)
test_evaluator = val_evaluator
