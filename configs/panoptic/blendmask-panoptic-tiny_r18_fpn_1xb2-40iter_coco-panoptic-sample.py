# A tiny BlendMask panoptic model on the bundled real COCO panoptic sample
# (2 COCO val2017 photos with panoptic PNGs, 80 thing + 53 stuff classes;
# see /work/shared/data/coco_panoptic_sample/README.md). For smoke runs of
# tools/train.py and tools/test.py on CPU, e.g. from the repository root:
#   CFG=configs/panoptic/blendmask-panoptic-tiny_r18_fpn_1xb2-40iter_coco-panoptic-sample.py
#   python tools/train.py $CFG --cfg-options train_cfg.max_iters=3
#   python tools/test.py $CFG work_dirs/$(basename $CFG .py)/iter_3.pth
# tools/test.py prints the PQ table and writes the predicted panoptic PNGs
# and json to work_dirs/$(basename $CFG .py)/results.panoptic/ and
# results.panoptic.json (test_evaluator.outfile_prefix).
# Same architecture and level routing as
# blendmask-panoptic_r50_fpn_ms-3x_coco.py, shrunk as
# tests/configs/blendmask_tiny.py (R-18 at 1/4 width, 32-channel FPN and
# heads), small input (shorter side ~214 px). Train and test images are the
# same two photos.
_base_ = './blendmask-panoptic_r50_fpn_ms-3x_coco.py'

# Resolved from this file's location, so the config works from any cwd
# (the sample lives in ../shared/ next to the repository).
data_root = (
    '{{fileDirname}}/../../../shared/data/coco_panoptic_sample/sample_data/'
)
backend_args = None
img_scale = (320, 320)
GN = dict(type='GN', num_groups=8, requires_grad=True)

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
        in_channels=32, feat_channels=32, stacked_convs=2, norm_cfg=GN
    ),
    mask_head=dict(
        basis=dict(channels=32, sem_channels=32, norm_cfg=GN),
        blender=dict(bottom_resolution=28, attn_size=7),
    ),
    semantic_head=dict(in_channels=32, inner_channels=32, norm_cfg=GN),
)

train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(
        type='PackDetInputs',
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
    ),
]
# Dataset type, filter_cfg, samplers, test_mode: coco_panoptic.py's.
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='panoptic_examples.json',
        data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    # the same two photos
    dataset=dict(train_dataloader['dataset'], pipeline=test_pipeline),
)
test_dataloader = val_dataloader

val_evaluator = dict(
    ann_file=data_root + 'panoptic_examples.json',
    seg_prefix=data_root + 'panoptic_examples/',
    nproc=2,
)
test_evaluator = dict(
    val_evaluator,
    outfile_prefix='./work_dirs/{{fileBasenameNoExtension}}/results',
)

# Short schedule for smoke/overfit runs.
max_iters = 40
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False),
)
log_processor = dict(window_size=1)
