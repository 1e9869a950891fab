# LVIS v1 instance segmentation (1203 categories) on COCO 2017 images.
# LVISV1Dataset derives the image path from `coco_url`
# (".../train2017/xxx.jpg" -> data_root + "train2017/xxx.jpg").
# Training uses repeat-factor sampling (ClassBalancedDataset, threshold
# 1e-3) and multi-scale resize, as mmdet's LVIS configs; evaluation uses
# CompatLVISMetric (mmdet's LVISMetric with the numpy-2 fix of the lvis
# package, registered by `custom_imports = dict(imports=['mmblend'])` of
# ../default_runtime.py).
# Requires the `lvis` package (requirements/runtime.txt).
# Pipelines and loader settings are those of coco_instance_ms.py.
_base_ = './coco_instance_ms.py'

dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis_v1/'

# coco_instance_ms.py's training set, re-pointed at LVIS and wrapped for
# repeat-factor sampling.
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=1e-3,
        dataset=dict(
            _base_.train_dataloader.dataset,
            type=dataset_type,
            data_root=data_root,
            ann_file='annotations/lvis_v1_train.json',
            data_prefix=dict(img=''),
        ),
    )
)
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img=''),
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='CompatLVISMetric',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox', 'segm'],
    backend_args=None,
)
test_evaluator = val_evaluator
