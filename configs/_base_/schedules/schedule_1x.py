# Paper 1x on mmdet's 1x schedule: 90k iterations (an iteration-based loop,
# not mmdet's 12 epochs) at batch 16 (2 images x 8 GPUs), lr 0.01 (not
# 0.02), steps at 60k and 80k after a 1000-iteration linear warm-up, bias
# lr x2 without weight decay, gradient clipping at 35.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

max_iters = 90000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=10000,
)

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[60000, 80000],
        gamma=0.1,
    ),
]

optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=35, norm_type=2),
)
# auto_scale_lr (mmdet's): lr 0.01 is for a total batch of 16; enable with
# --auto-scale-lr.
