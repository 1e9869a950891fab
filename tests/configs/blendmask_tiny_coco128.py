# The tiny BlendMask with the bundled coco128-seg data at 160 px: a complete
# config (model, data, runtime) for inference/tool tests.
_base_ = [
    './blendmask_tiny.py',
    '../../configs/_base_/datasets/coco128_instance.py',
    '../../configs/_base_/default_runtime.py',
]
img_scale = (224, 160)
test_pipeline = [
    dict(type='LoadImageFromFile'),
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
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(test_cfg=dict(score_thr=0.0))  # untrained: keep detections
