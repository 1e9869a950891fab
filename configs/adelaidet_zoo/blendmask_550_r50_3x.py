# AdelaiDet zoo BlendMask 550_R_50_3x (configs/BlendMask/550_R_50_3x.yaml on
# Base-550.yaml; AdelaiDet's README: box AP 38.7 / mask AP 34.5 on val2017,
# 28 FPS): BlendMask at 550 with the zoo recipe otherwise.
# * FCOS on P3-P6 (TOP_LEVELS 1: FPN num_outs=4), sizes of interest
#   64/128/256, ONE tower of 3 convs shared by classification and box
#   regression (NUM_SHARE_CONVS 3, NUM_CLS/BOX_CONVS 0);
# * Proto-FPN with 2 tower convs (BASIS_MODULE.NUM_CONVS 2);
# * shorter side in {440, 462, ..., 550} for training, 550 at test, longer
#   side <= 916;
# * 270k iterations, steps 210k/250k (configs/adelaidet_zoo/
#   blendmask_r50_3x.py).
_base_ = './blendmask_r50_3x.py'
model = dict(
    neck=dict(num_outs=4),
    bbox_head=dict(
        share_tower=True,
        stacked_convs=3,
        strides=[8, 16, 32, 64],
        regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 1e8))),
    mask_head=dict(basis=dict(num_convs=2)))

img_scale = (916, 550)
train_scales = [(916, s) for s in (440, 462, 484, 506, 528, 550)]
train_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
         poly2mask=False),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
         poly2mask=False),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
# --tta: the test scale 550 and 1.25x it, each as is and flipped.
tta_scales = [img_scale, (1145, 688)]
tta_pipeline = [
    test_pipeline[0],
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=s, keep_ratio=True)
             for s in tta_scales],
            [dict(type='RandomFlip', prob=1.),
             dict(type='RandomFlip', prob=0.)],
            [dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
                  poly2mask=False)],
            [dict(type='PackDetInputs',
                  meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                             'scale_factor', 'flip', 'flip_direction'))],
        ])
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
