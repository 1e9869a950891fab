# COCO test-dev 2017: inference on test2017 images and result formatting
# for the evaluation server (no annotations, no metric computed).
# Results: work_dirs/coco_instance_testdev/results.{bbox,segm}.json
# Training/validation settings are those of coco_instance.py.
_base_ = './coco_instance.py'

dataset_type = 'CocoInstanceDataset'
data_root = 'data/coco/'
backend_args = None
img_scale = (1333, 800)

testdev_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/image_info_test-dev2017.json',
        data_prefix=dict(img='test2017/'),
        test_mode=True,
        pipeline=testdev_pipeline,
        backend_args=backend_args))
test_evaluator = dict(
    type='CocoMetric',
    metric=['bbox', 'segm'],
    format_only=True,
    ann_file=data_root + 'annotations/image_info_test-dev2017.json',
    outfile_prefix='./work_dirs/coco_instance_testdev/results',
    backend_args=backend_args)
