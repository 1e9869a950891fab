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
# Only the val/test side differs from coco_instance_ms.py (pipelines, loader
# settings and the multi-scale COCO training set of the 3x models are
# inherited from it), so a 3x model config re-based on this file differs in
# the test set only (configs/lvis/
# blendmask_r101-dcni3_fpn_ms-3x_coco_lvis-v0.5-cocofied.py).
_base_ = './coco_instance_ms.py'

dataset_type = 'CocoDataset'
data_root = 'data/lvis_v0.5/'
coco_img_root = 'data/coco/'
ann_file = data_root + 'annotations/lvis_v0.5_val_cocofied.json'

val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root='',
        ann_file=ann_file,
        data_prefix=dict(img=coco_img_root + 'val2017/'),
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=ann_file)
test_evaluator = val_evaluator
