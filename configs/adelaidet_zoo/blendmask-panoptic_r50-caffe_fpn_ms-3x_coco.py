# AdelaiDet zoo panoptic BlendMask R_50_3x (configs/BlendMask/Panoptic/
# R_50_3x.yaml on Base-Panoptic.yaml; AdelaiDet's README: PQ 42.5 on
# val2017): the zoo model and solver (./_base_/adelaidet_r50_fpn_3x.py) plus
# detectron2's SemSegFPNHead as mmdet's PanopticFPNHead:
# * FPN on res2-res5 (P2..P7: start_level=0, num_outs=6); FCOS and the top
#   layer on P3-P7, Proto-FPN bases on P3-P5, auxiliary semantic loss on P3;
# * semantic head: P2-P5, 128 channels, GN, 53 stuff classes + one "things"
#   class, loss weight 0.5 (SEM_SEG_HEAD defaults, Base-Panoptic.yaml);
# * fusion (PANOPTIC_FPN.COMBINE): instance score >= 0.45 (on the sqrt
#   score scale, as AdelaiDet's), overlap 0.4, stuff area >= 4096;
# * 270k iterations, steps 210k/250k, multi-scale training.
_base_ = [
    './_base_/adelaidet_r50_fpn_3x.py',
    '../_base_/datasets/coco_panoptic_ms.py',
]

num_things_classes = 80
num_stuff_classes = 53
model = dict(
    type='BlendMaskPanoptic',
    data_preprocessor=dict(
        pad_mask=True, mask_pad_value=0, pad_seg=True, seg_pad_value=255
    ),
    neck=dict(start_level=0, num_outs=6),  # P2..P7
    bbox_head=dict(
        num_classes=num_things_classes, feat_indices=(1, 2, 3, 4, 5)
    ),
    mask_head=dict(
        basis=dict(
            in_indices=(1, 2, 3),  # P3, P4, P5 of P2..P7
            sem_in_index=1,  # P3 (stride 8)
            num_classes=num_things_classes,
        )
    ),
    semantic_head=dict(
        type='PanopticFPNHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        in_channels=256,
        inner_channels=128,
        start_level=0,  # P2 ...
        end_level=4,  # ... to P5 (end exclusive)
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        conv_cfg=None,
        loss_seg=dict(
            type='CrossEntropyLoss',
            ignore_index=255,
            avg_non_ignore=True,
            loss_weight=0.5,
        ),
    ),
    panoptic_fusion_head=dict(
        type='HeuristicFusionHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
    ),
    test_cfg=dict(
        panoptic=dict(
            instance_score_thr=0.45, mask_overlap=0.4, stuff_area_limit=4096
        )
    ),
)
train_dataloader = dict(batch_size=2)
test_evaluator = dict(
    outfile_prefix='./work_dirs/{{fileBasenameNoExtension}}/results'
)
