# BlendMask R-50, 1x (paper Table 8 row "BlendMask R-50, 12 epochs, no aug."):
# 56_4_14, bilinear top interpolation, DeepLabV3+ bottom module of width 256
# on FPN P3+P5 (bases at stride 8) with the auxiliary semantic loss.
# 90k iterations at batch 16 (2 images x 8 GPUs), lr 0.01, steps 60k/80k,
# single scale 800x1333.
_base_ = [
    './_base_/models/blendmask_r50_fpn.py',
    './_base_/datasets/coco_instance.py',
    './_base_/schedules/schedule_1x.py',
    './_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=2)
# lr 0.01 is for 16 images per iteration; other totals: --auto-scale-lr
auto_scale_lr = dict(base_batch_size=16)
