# ./adelaidet_r50_fpn.py with AdelaiDet's 3x schedule: 270k iterations,
# steps 210k/250k (the paper's 3x uses 180k/240k).
_base_ = './adelaidet_r50_fpn.py'
max_iters = 270000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[210000, 250000],
        gamma=0.1,
    ),
]
