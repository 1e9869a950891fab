# BlendMask R-101, 3x, multi-scale training (paper Table 8).
_base_ = './blendmask_r50_3x.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101'),
    )
)
