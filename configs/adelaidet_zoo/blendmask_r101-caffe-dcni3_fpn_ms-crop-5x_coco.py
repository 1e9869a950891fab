# AdelaiDet zoo BlendMask R_101_dcni3_5x (box AP 46.8 / mask AP 41.1 on
# val2017; the model of the paper's Table 11):
# * modulated DCN on blocks i % 3 == 0 of res3-res5;
# * 400k iterations, steps 280k/360k, evaluation every 20k;
# * random crop of 0.9x0.9 of the image (detectron2 CROP "relative_range"
#   [0.9, 0.9]; AdelaiDet keeps one instance inside the crop, here crops
#   without any instance are re-drawn), then shorter side uniformly in
#   [640, 864], longer side <= 1440; test 800x1333.
_base_ = './blendmask_r101-caffe_fpn_ms-3x_coco.py'
model = dict(
    backbone=dict(
        type='ResNetDCNInterval',
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        dcn_interval=3,
    )
)
max_iters = 400000
train_cfg = dict(max_iters=max_iters, val_interval=20000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[280000, 360000],
        gamma=0.1,
    ),
]
train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=None),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=False
    ),
    dict(
        type='RandomCrop',
        crop_type='relative_range',
        crop_size=(0.9, 0.9),
        recompute_bbox=True,
        allow_negative_crop=False,
    ),
    dict(
        type='RandomResize', scale=[(1440, 640), (1440, 864)], keep_ratio=True
    ),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
