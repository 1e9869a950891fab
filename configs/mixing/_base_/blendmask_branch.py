# BlendMask's mask branch for mmdet's one-stage detectors (configs/mixing/):
# the pieces a detection config needs to become an instance segmenter. Every
# name here but custom_imports is new to mmdet's configs, so this file
# composes with any of them in one `_base_` list; the mixing configs place
# the pieces with `{{_base_.<name>}}` (or `_base_.<name>` in an expression).
custom_imports = dict(imports=['mmblend'], allow_failed_imports=False)

# The paper's final bottom module (Table 8): DeepLabV3+ of width 256 on
# P3 + P5 (indices 0 and 2 of an FPN with outputs P3..P7), bases at
# stride 8, auxiliary semantic loss on P3; blender 56_4_14.
blend_mask_head = dict(
    type='BlendMaskMaskHead',
    basis=dict(
        type='DeepLabV3PlusBasis',
        in_channels=256,
        in_indices=(0, 2),
        out_stride=8,
        channels=256,
        num_bases=4,
        num_classes=80,
        sem_in_index=0,
        sem_loss_weight=0.3,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
    ),
    blender=dict(type='Blender', attn_size=14, bottom_resolution=56),
)

# The real-time hosts (RTMDet, YOLOX: necks of 96-128 channels with levels
# P3-P5, indices 0-2): the same bottom module at width 64, half the neck's
# width as the paper's ablation width 128 is half its 256-channel FPN (at
# 128 it costs YOLOX-s 1.21x its FLOPs at 640x640, at 64 1.07x); its
# in_channels is left out, so the BlendMask detector takes it from
# model.neck.out_channels.
blend_rt_mask_head = dict(
    blend_mask_head,
    basis=dict(
        {
            k: v
            for k, v in blend_mask_head['basis'].items()
            if k != 'in_channels'
        },
        channels=64,
    ),
)

# mmdet's detection pipelines do not load masks.
blend_train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]

# Ours check the dataset against the model before the first iteration and
# stop on a non-finite loss: the mixing configs' custom_hooks (after the
# host's own, where its config has some).
blend_custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='FiniteLossHook', interval=1),
]
