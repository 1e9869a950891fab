# BlendMask R-50, 3x with multi-scale training (paper Table 8, "aug."):
# the blendmask_r50_fpn_1x_coco.py model, 270k iterations (steps 180k/240k),
# shorter side drawn from {640, 672, ..., 800} (longer side <= 1333); test 800.
_base_ = [
    './_base_/models/blendmask_r50_fpn.py',
    './_base_/datasets/coco_instance_ms.py',
    './_base_/schedules/schedule_3x.py',
    './_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)
