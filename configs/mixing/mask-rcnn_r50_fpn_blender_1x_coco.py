# Mask R-CNN R-50-FPN 1x on COCO with BlendMask's blender as its mask head
# (paper §4.3: the blender "can also be used to refine two-stage instance
# predictions"): mmdet's own config, unchanged except the mask head (and the
# training loader, which skips bad image files).
#
# BlendRoIHead / BlendRoIMaskHead take StandardRoIHead's / FCNMaskHead's
# arguments, so only `type`, `basis` and `blender` are overridden (no
# _delete_). Masks are class-agnostic 28x28 (R = rcnn.mask_size = 28, K = 4
# bases, 14x14 attentions predicted from the 14x14 mask RoI features by two
# 64-channel convs); the test threshold stays rcnn.mask_thr_binary.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmblend'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='BlendRoIHead',
        mask_head=dict(
            type='BlendRoIMaskHead',
            # DeepLabV3+ bases on P3+P5 (stride 8) with the semantic head on
            # P3: Mask R-CNN's FPN outputs P2..P6, so P3 is index 1.
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
# mmdet's training pipeline with LoadCheckedImageFromFile
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='FiniteLossHook', interval=1)
]
