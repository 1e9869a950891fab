# BlendMask-RT R-50, 3x (paper Table 9, real-time setting):
# * FCOS head on P3-P6 (P7 removed: FPN num_outs=4), ONE tower of 3 convs
#   shared by classification and box regression;
# * Proto-FPN bottom module, width 128: a 3x3 conv per input P3/P4/P5, sum
#   at stride 8, 2 convs, x2 upsampling, 1 conv -> 4 conv layers, bases at
#   stride 4 (AdelaiDet 550_R_50_3x: BASIS_MODULE.NUM_CONVS 2);
# * shorter side sampled from {440, 462, ..., 550} for training, 550 at test
#   (longer side <= 916, as AdelaiDet's Base-550.yaml: coco_instance_ms_550);
# * 270k iterations, steps 180k/240k, batch 16 (as blendmask_r50_3x.py).
_base_ = [
    './_base_/models/blendmask_r50_fpn.py',
    './_base_/datasets/coco_instance_ms_550.py',
    './_base_/schedules/schedule_3x.py',
    './_base_/default_runtime.py',
    './_base_/basis/protonet_basis.py',
]
model = dict(
    neck=dict(num_outs=4),
    bbox_head=dict(
        share_tower=True,
        stacked_convs=3,
        strides=[8, 16, 32, 64],
        regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 1e8)),
    ),
    mask_head=dict(basis=dict(_base_.protonet_basis, _delete_=True)),
)
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)
