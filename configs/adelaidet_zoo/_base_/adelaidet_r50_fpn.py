# Model and solver of AdelaiDet's BlendMask model zoo
# (configs/BlendMask/Base-BlendMask.yaml + adet/config/defaults.py +
# detectron2's config defaults), set so that a checkpoint converted with
# tools/model_converters/adelaidet2mmblend.py gives AdelaiDet's outputs and
# fine-tunes as AdelaiDet trains. Differences from the paper configs
# (configs/blendmask_*.py), all from the reference:
# * backbone: MSRA caffe-style ResNet (stride in the 1x1 conv), BGR input
#   minus the pixel mean [103.53, 116.28, 123.675], std 1, FrozenBN
#   everywhere (running stats AND affine frozen), stem + res2 frozen
#   (FREEZE_AT 2), ImageNet weights: detectron2's MSRA R-50.pkl;
# * FCOS: GN towers with conv bias, ReLU on the box regression of
#   stride-normalised boxes, IoU loss (I+1)/(U+1) (AdelaiDetIoULoss, giou),
#   no per-level Scale (USE_SCALE False): mmdet's head always has one, so it
#   stays at its initial 1.0 and is frozen (lr and decay multiplier 0);
# * bottom module: Proto-FPN ("ProtoNet" on P3/P4/P5, CONVS_DIM 128,
#   NUM_CONVS 3, SyncBN), bases at stride 4 (POOLER_SCALES 0.25); semantic
#   loss on P3 (LOSS_ON True, weight 0.3) with a plain-BN semantic head;
# * blender: 56_4_14, bilinear top, RoIAlign (ROIAlignV2), sampling ratio 1;
# * inference order: boxes stay unclipped through NMS, the top-100 cut and
#   the blender, then are clipped, the empty ones dropped and each mask
#   pasted into its clipped box (detectron2's detector_postprocess:
#   test_cfg.clip_after_mask); no minimum box size before NMS;
# * solver: detectron2's SGD defaults: momentum 0.9, weight decay 1e-4 on
#   weights and biases alike, none on norm parameters (WEIGHT_DECAY_NORM 0),
#   bias lr x1, no gradient clipping; batch 16, lr 0.01, linear warm-up of
#   1000 iterations from 0.001x (the schedule bases).
# What is still not reproduced is listed in configs/README.md.
# Data: ./blendmask_adelaidet_r50.py (instance) and
# ../blendmask-panoptic_r50-caffe_fpn_ms-3x_coco.py (panoptic).
_base_ = [
    '../../_base_/models/blendmask_r50_fpn.py',
    '../../_base_/basis/protonet_basis.py',
    '../../_base_/schedules/schedule_1x.py',
    '../../_base_/default_runtime.py',
]
model = dict(
    data_preprocessor=dict(
        mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False
    ),
    backbone=dict(
        style='caffe',
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet50_caffe',
        ),
    ),
    bbox_head=dict(
        loss_bbox=dict(
            _delete_=True,
            type='AdelaiDetIoULoss',
            loss_type='giou',
            loss_weight=1.0,
        )
    ),
    mask_head=dict(
        basis=dict(
            _base_.protonet_basis,
            _delete_=True,
            num_convs=3,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            sem_norm_cfg=dict(type='BN', requires_grad=True),
        )
    ),
    test_cfg=dict(clip_after_mask=True, min_bbox_size=-1),
)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(
        _delete_=True,
        bias_lr_mult=1.0,
        bias_decay_mult=1.0,
        norm_decay_mult=0.0,
        # AdelaiDet has no per-level scale: keep mmdet's at 1.0
        custom_keys={'bbox_head.scales': dict(lr_mult=0.0, decay_mult=0.0)},
    ),
    clip_grad=None,
)
auto_scale_lr = dict(base_batch_size=16)
