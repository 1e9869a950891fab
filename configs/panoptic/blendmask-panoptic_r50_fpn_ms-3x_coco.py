# BlendMask panoptic, R-50-FPN, 3x with scale jitter (paper §4.4, Table 10):
# BlendMask (R_K_M = 56_4_14, DeepLabV3+ bases on P3+P5 with the auxiliary
# semantic loss) plus Panoptic FPN's semantic branch (53 stuff classes + one
# "things" class, P2-P5, loss weight 0.5), fused by Panoptic FPN's
# heuristic. COCO 2017 panoptic: train2017 / val2017.
#
# The FPN gains P2 (start_level=0, num_outs=6 -> P2..P7) for the semantic
# head; every consumer picks its levels explicitly:
#   FCOS / top layer : P3-P7  (bbox_head.feat_indices=(1, 2, 3, 4, 5))
#   bases            : P3+P5  (mask_head.basis.in_indices=(1, 3)), stride 8
#   semantic head    : P2-P5  (semantic_head start_level=0, end_level=4)
_base_ = [
    '../_base_/models/blendmask_r50_fpn.py',
    '../_base_/datasets/coco_panoptic_ms.py',
    '../_base_/schedules/schedule_3x.py',
    '../_base_/default_runtime.py',
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
            in_indices=(1, 3),  # P3, P5 of P2..P7
            sem_in_index=1,  # auxiliary semantic loss on P3 (stride 8)
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
        # mean over non-VOID pixels, as Panoptic FPN (detectron2)
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
            # On BlendMaskHead's score scale sqrt(sigmoid(cls)*sigmoid(ctr)).
            # 0.45: the reference code (AdelaiDet Base-Panoptic.yaml); the
            # paper (§4.4) says 0.2.
            instance_score_thr=0.45,
            mask_overlap=0.4,  # paper + AdelaiDet
            stuff_area_limit=4096,
        )
    ),
)  # Panoptic FPN's default

test_evaluator = dict(
    outfile_prefix='./work_dirs/{{fileBasenameNoExtension}}/results'
)
