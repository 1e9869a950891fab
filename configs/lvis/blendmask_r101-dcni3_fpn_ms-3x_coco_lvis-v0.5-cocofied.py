# Paper Table 11, "LVIS AP*": the last model of Table 8
# (../blendmask_r101-dcni3_fpn_ms-3x_coco.py, trained on COCO) scored with
# COCO mask AP against the LVIS v0.5 re-annotation of COCO val2017, restricted to the 80
# COCO categories (paper: 41.1 COCO AP, 44.1 LVIS AP*). Prepare the ground
# truth once (../_base_/datasets/lvis_cocofied_instance.py):
#   python tools/dataset_converters/prepare_cocofied_lvis.py \
#       data/lvis_v0.5/annotations/lvis_v0.5_val.json \
#       data/lvis_v0.5/annotations/lvis_v0.5_val_cocofied.json
# then evaluate a checkpoint of blendmask_r101-dcni3_fpn_ms-3x_coco.py:
#   python tools/test.py \
#       configs/lvis/blendmask_r101-dcni3_fpn_ms-3x_coco_lvis-v0.5-cocofied.py \
#       CKPT
#
# mmengine refuses two files of one `_base_` list that both set the data
# loaders, so this file cannot inherit blendmask_r101-dcni3_fpn_ms-3x_coco.py
# *and* the cocofied dataset base. It lists that config's bases with the cocofied
# base in place of coco_instance_ms.py (same COCO training set) and repeats
# the overrides of its chain (blendmask_r50_3x.py -> r101 -> r101-dcni3);
# tests/configs_walk/test_lvis_configs.py checks that the two configs differ
# in the val/test set only.
_base_ = [
    '../_base_/models/blendmask_r50_fpn.py',
    '../_base_/datasets/lvis_cocofied_instance.py',
    '../_base_/schedules/schedule_3x.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)
model = dict(
    backbone=dict(
        type='ResNetDCNInterval',
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101'),
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        dcn_interval=3,
    )
)
