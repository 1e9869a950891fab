# AdelaiDet zoo BlendMask R_50_3x (box AP 42.7 / mask AP 37.8 on val2017):
# 270k iterations with AdelaiDet's steps 210k/250k (the paper's 3x uses
# 180k/240k), multi-scale training.
_base_ = [
    './_base_/adelaidet_r50_fpn_3x.py',
    '../_base_/datasets/coco_instance_ms.py',
]
train_dataloader = dict(batch_size=2)
