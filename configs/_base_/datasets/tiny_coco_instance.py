# tiny-coco: 16 real COCO train2017 images (13 train / 3 val) with their
# ORIGINAL COCO annotations (multi-polygon objects, one iscrowd=1 RLE
# region), read from the shared data folder next to the repository
# (../shared/data/tiny-coco, see its README.md). Crowd regions are loaded as
# instances with ignore_flag=1 by mmdet's CocoDataset and are ignored in
# training/evaluation, as in mmdet.
# Pipelines and loader settings are those of coco_instance.py. Model configs
# pick a small scale by overriding `img_scale` and redeclaring the
# pipelines (see coco_instance.py).
_base_ = './coco_instance.py'

data_root = '../shared/data/tiny-coco/small_coco/'

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='instances_train.json',
        data_prefix=dict(img='train_2017_small/'),
    )
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='instances_val.json',
        data_prefix=dict(img='train_2017_small/'),
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'instances_val.json')
test_evaluator = val_evaluator
