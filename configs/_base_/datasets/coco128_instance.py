# coco128-seg: 110 real COCO train2017 images (88 train / 22 val) with
# polygon instance masks, shipped in the repo under demo/data/coco128-seg/
# (see its README.md). For smoke/overfit training and pipeline-level
# evaluation; paths are relative to the repository root.
# Pipelines and loader settings are those of coco_instance.py. Model configs
# pick a small scale by overriding `img_scale` and redeclaring the
# pipelines (see coco_instance.py).
_base_ = './coco_instance.py'

data_root = 'demo/data/coco128-seg/'

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='instances_train.json',
        data_prefix=dict(img='images/train2017/'),
    )
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='instances_val.json',
        data_prefix=dict(img='images/train2017/'),
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'instances_val.json')
test_evaluator = val_evaluator
