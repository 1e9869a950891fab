# AdelaiDet zoo BlendMask R_101_3x (box AP 44.8 / mask AP 39.5 on val2017).
_base_ = './blendmask_r50-caffe_fpn_ms-3x_coco.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe',
        ),
    )
)
