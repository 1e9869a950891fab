# AdelaiDet zoo BlendMask R_50_3x (box AP 42.7 / mask AP 37.8 on val2017):
# 270k iterations with AdelaiDet's steps 210k/250k (the paper's 3x uses
# 180k/240k), multi-scale training.
_base_ = './_base_/blendmask_adelaidet_r50.py'
max_iters = 270000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[210000, 250000], gamma=0.1)
]
