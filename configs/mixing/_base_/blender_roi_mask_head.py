# The blender as the mask head of mmdet's two-stage detectors (paper §4.3:
# the blender "can also be used to refine two-stage instance predictions"),
# for the Mask R-CNN and Cascade Mask R-CNN mixing configs. Every name here
# is new to mmdet's configs; they place the head with
# `mask_head={{_base_.blend_roi_mask_head}}` and the training pipeline with
# `pipeline={{_base_.blend_rcnn_train_pipeline}}`.
custom_imports = dict(imports=['mmblend'], allow_failed_imports=False)

# BlendRoIMaskHead takes FCNMaskHead's arguments, so only `type`, `basis` and
# `blender` are set (no _delete_). Masks are class-agnostic 28x28 (R =
# rcnn.mask_size = 28, K = 4 bases, 14x14 attentions predicted from the
# 14x14 mask RoI features by two 64-channel convs); the test threshold stays
# rcnn.mask_thr_binary.
blend_roi_mask_head = dict(
    type='BlendRoIMaskHead',
    # DeepLabV3+ bases on P3+P5 (stride 8) with the semantic head on P3:
    # Mask R-CNN's FPN outputs P2..P6, so P3 is index 1.
    basis=dict(
        type='DeepLabV3PlusBasis',
        in_channels=256,
        in_indices=(1, 3),
        out_stride=8,
        channels=128,
        num_bases=4,
        num_classes=80,
        sem_in_index=1,
    ),
    blender=dict(attn_size=14, bottom_resolution=28),
)

# mmdet's Mask R-CNN / Cascade Mask R-CNN training pipeline, with the loader
# that skips bad image files (the test pipeline keeps mmdet's).
blend_rcnn_train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]

# mmdet's runtime has no custom hooks: ours check the dataset against the
# model before the first iteration and stop on a non-finite loss.
custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='FiniteLossHook', interval=1),
]
