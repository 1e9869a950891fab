# Cascade Mask R-CNN R-50-FPN 1x on COCO with BlendMask's blender as its
# three mask heads (paper §4.3): mmdet's own config, unchanged except the
# mask heads.
#
# BlendCascadeRoIHead / BlendRoIMaskHead take CascadeRoIHead's /
# FCNMaskHead's arguments, so only `type`, `basis` and `blender` are
# overridden (no _delete_). One basis module (kept in mask_head[0]) computes
# the bases once per image; each stage has its own attention predictor (two
# 64-channel convs on the 14x14 mask RoI features -> K=4 14x14 attentions)
# and blends them with the shared bases into class-agnostic 28x28 masks
# (R = every train_cfg.rcnn[i].mask_size = 28). Stage loss weights, box
# refinement and the test-time average of the stages' masks are mmdet's.
_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmblend'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='BlendCascadeRoIHead',
        mask_head=dict(
            type='BlendRoIMaskHead',
            # DeepLabV3+ bases on P3+P5 (stride 8) with the semantic head on
            # P3: the FPN outputs P2..P6, so P3 is index 1.
            basis=dict(
                type='DeepLabV3PlusBasis',
                in_channels=256,
                in_indices=(1, 3),
                out_stride=8,
                channels=128,
                num_bases=4,
                num_classes=80,
                sem_in_index=1),
            blender=dict(
                num_bases=4, attn_size=14, bottom_resolution=28))))

# mmdet's runtime has no custom hooks: ours check the dataset against the
# model before the first iteration and stop on a non-finite loss.
custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='FiniteLossHook', interval=1)
]
