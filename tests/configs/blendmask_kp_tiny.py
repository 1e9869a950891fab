# tests/configs/blendmask_tiny.py for person keypoints: one class and the
# keypoint branch (keypoint-specific bases 17 x 4 from a second DeepLabV3+
# basis of width 32, one shared 4x7x7 attention, 28 x 28 heatmaps).
_base_ = './blendmask_tiny.py'

model = dict(
    bbox_head=dict(num_classes=1),
    mask_head=dict(basis=dict(num_classes=1)),
    keypoint_head=dict(
        type='BlendKeypointHead',
        basis=dict(
            type='DeepLabV3PlusBasis',
            in_channels=32,
            in_indices=(0, 2),
            out_stride=8,
            channels=32,
            num_bases=68,
            norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
        ),
        blender=dict(
            type='KeypointBlender',
            num_keypoints=17,
            shared_bases=False,
            shared_attention=True,
            attn_size=7,
            bottom_resolution=28,
        ),
    ),
)
