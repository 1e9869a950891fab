# COCO instance segmentation at 550 (BlendMask-RT, paper Table 9; AdelaiDet's
# Base-550.yaml): shorter side drawn from {440, 462, ..., 550} for training,
# 550 at test, longer side <= 916; --tta: 550 and 1.25x it, each as is and
# flipped. Used by blendmask-rt_r50_fpn_ms-550-3x_coco.py and
# adelaidet_zoo/blendmask_r50-caffe_fpn_ms-550-3x_coco.py.
_base_ = './coco_instance.py'

backend_args = None
img_scale = (916, 550)
train_scales = [(916, s) for s in (440, 462, 484, 506, 528, 550)]
train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
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
tta_scales = [img_scale, (1145, 688)]
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
