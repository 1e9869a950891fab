# "LVIS AP*" (BlendMask paper, Table 11): a COCO-trained model (80 COCO
# classes) evaluated with COCO AP against the LVIS v0.5 re-annotation of the
# COCO val2017 images, restricted to the 80 COCO categories (detectron2's
# `lvis_v0.5_val_cocofied`).
# Prepare the annotation file once with
#   python tools/dataset_converters/prepare_cocofied_lvis.py \
#       data/lvis_v0.5/annotations/lvis_v0.5_val.json \
#       data/lvis_v0.5/annotations/lvis_v0.5_val_cocofied.json
# It is a COCO-format json with COCO category ids/names, read by CocoDataset
# and scored by CocoMetric (standard COCO AP, no LVIS federated rules).
# Only the test side is defined here; training settings come from the
# model config's COCO dataset base.
dataset_type = 'CocoDataset'
data_root = 'data/lvis_v0.5/'
coco_img_root = 'data/coco/'
ann_file = data_root + 'annotations/lvis_v0.5_val_cocofied.json'
backend_args = None
img_scale = (1333, 800)

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
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root='',
        ann_file=ann_file,
        data_prefix=dict(img=coco_img_root + 'val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=ann_file,
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
