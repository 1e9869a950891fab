# Model and data of AdelaiDet's BlendMask model zoo (configs/BlendMask/
# Base-BlendMask.yaml + adet/config/defaults.py), which differ from the
# paper's Table 8 models:
# * bottom module: Proto-FPN ("ProtoNet" on P3/P4/P5, CONVS_DIM 128,
#   NUM_CONVS 3, NORM SyncBN), bases at stride 4 (POOLER_SCALES 0.25);
#   semantic loss on P3 (LOSS_ON True, weight 0.3);
# * blender: 56_4_14, bilinear top, RoIAlign (ROIAlignV2), sampling ratio 1;
# * multi-scale training (shorter side in {640, ..., 800}) even at 1x.
# Not reproduced: AdelaiDet turns the per-level FCOS scales off
# (FCOS.USE_SCALE False); mmdet's FCOS head always has them (init 1.0).
# Solver (per model file): batch 16, lr 0.01, 1k-iteration warm-up.
_base_ = [
    '../../_base_/models/blendmask_r50_fpn.py',
    '../../_base_/datasets/coco_instance_ms.py',
    '../../_base_/schedules/schedule_1x.py', '../../_base_/default_runtime.py'
]
model = dict(
    mask_head=dict(
        basis=dict(
            _delete_=True,
            type='ProtoNetBasis',
            in_channels=256,
            in_indices=(0, 1, 2),  # P3, P4, P5
            out_stride=4,
            channels=128,
            refine_channels=128,
            num_convs=3,
            num_bases=4,
            num_classes=80,
            sem_in_index=0,
            sem_loss_weight=0.3,
            norm_cfg=dict(type='SyncBN', requires_grad=True)),
        blender=dict(bases_stride=4)))
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)
