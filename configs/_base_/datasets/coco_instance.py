# COCO 2017 instance segmentation (train2017 / val2017): mmdet's own
# dataset base (paths, loader settings, filter, CocoMetric bbox + segm) with
# what differs here:
# * `CocoInstanceDataset` (mmblend/datasets/): mmdet's CocoDataset that
#   checks the annotations and names what to fix;
# * training loads images with `LoadCheckedImageFromFile`, which skips a
#   broken image with a warning naming it (budget per process); the test
#   pipeline keeps mmdet's `LoadImageFromFile` (DetInferencer needs that
#   name), which mmblend's tools/train.py and tools/test.py make the checked
#   loader for validation and testing (docs/tools.md);
# * masks kept as polygons (poly2mask=False), rasterised on demand;
# * a training sampler that never ends an epoch (below);
# * the `tta_pipeline` of `tools/test.py --tta`.
# Downstream configs may override `img_scale` AND redeclare the pipelines
# (a base variable is substituted when this file is loaded), e.g.
#   img_scale = (1024, 640)
#   train_pipeline = [..., dict(type='Resize', scale=img_scale, ...), ...]
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

dataset_type = 'CocoInstanceDataset'
backend_args = None
img_scale = (1333, 800)

train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    # If you don't have a gt annotation, delete the pipeline
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
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
# Test-time augmentation (`tools/test.py ... --tta`, merged by `tta_model` of
# default_runtime.py): the test scale and 1.25x it, each as is and flipped
# (4 views). The loader is test_pipeline's. A config that changes the test
# scale redeclares this too (see coco_instance_ms_550.py).
tta_scales = [img_scale, (1666, 1000)]
tta_pipeline = [
    test_pipeline[0],
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=s, keep_ratio=True)
                for s in tta_scales
            ],
            [
                dict(type='RandomFlip', prob=1.0),
                dict(type='RandomFlip', prob=0.0),
            ],
            [
                dict(
                    type='LoadAnnotations',
                    with_bbox=True,
                    with_mask=True,
                    poly2mask=False,
                )
            ],
            [
                dict(
                    type='PackDetInputs',
                    meta_keys=(
                        'img_id',
                        'img_path',
                        'ori_shape',
                        'img_shape',
                        'scale_factor',
                        'flip',
                        'flip_direction',
                    ),
                )
            ],
        ],
    ),
]
train_dataloader = dict(
    # Never ends an epoch: an iteration-based loop over a finite sampler
    # sleeps 2 s at every epoch end (mmengine's _InfiniteDataloaderIterator);
    # see configs/README.md "Samplers".
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, pipeline=train_pipeline),
)
val_dataloader = dict(dataset=dict(type=dataset_type, pipeline=test_pipeline))
test_dataloader = val_dataloader
