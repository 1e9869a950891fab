# A tiny BlendMask (R-18 at 1/4 width, 32-channel FPN and heads) for unit
# tests: the architecture of the paper's model, shrunk to run in seconds on
# a CPU.
_base_ = '../../configs/_base_/models/blendmask_r50_fpn.py'

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        init_cfg=None,
        frozen_stages=-1,
        norm_eval=False,
    ),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    bbox_head=dict(
        in_channels=32,
        feat_channels=32,
        stacked_convs=2,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
    ),
    mask_head=dict(
        basis=dict(
            in_channels=32,
            channels=32,
            sem_channels=32,
            norm_cfg=dict(type='GN', num_groups=8, requires_grad=True),
        ),
        blender=dict(bottom_resolution=28, attn_size=7),
    ),
)
