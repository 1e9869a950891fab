# BlendMask R-101 + deformable convs with interval 3 (paper Table 8,
# "+deform convs (interval = 3)"; the model of Table 11): modulated DCN
# (DCNv2, mmcv ModulatedDeformConv2dPack) as conv2 of blocks 0, 3, 6, ... of
# each of res3-res5 (AdelaiDet DEFORM_ON_PER_STAGE [F, T, T, T],
# DEFORM_MODULATED, DEFORM_INTERVAL 3). 3x schedule as requested; AdelaiDet
# trains its released dcni3 model 5x (configs/adelaidet_zoo/).
_base_ = './blendmask_r101_fpn_ms-3x_coco.py'
model = dict(
    backbone=dict(
        type='ResNetDCNInterval',
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
        dcn_interval=3,
    )
)
