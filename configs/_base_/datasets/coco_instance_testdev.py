# COCO test-dev 2017: inference on test2017 images and result formatting
# for the evaluation server (no annotations, no metric computed).
# Results: work_dirs/coco_instance_testdev/results.{bbox,segm}.json
# Training/validation settings are those of coco_instance.py.
_base_ = './coco_instance.py'

backend_args = None
img_scale = (1333, 800)

# coco_instance.py's test pipeline without LoadAnnotations.
testdev_pipeline = [
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
# --tta: coco_instance.py's views, without LoadAnnotations.
tta_scales = [img_scale, (1666, 1000)]
tta_pipeline = [
    testdev_pipeline[0],
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
test_dataloader = dict(
    dataset=dict(
        ann_file='annotations/image_info_test-dev2017.json',
        data_prefix=dict(img='test2017/'),
        pipeline=testdev_pipeline,
    )
)
test_evaluator = dict(
    format_only=True,
    ann_file=_base_.data_root + 'annotations/image_info_test-dev2017.json',
    outfile_prefix='./work_dirs/coco_instance_testdev/results',
)
