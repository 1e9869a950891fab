# AdelaiDet zoo BlendMask R_50_1x (box AP 39.9 / mask AP 35.8 on val2017):
# 90k iterations, steps 60k/80k, multi-scale training.
_base_ = './_base_/blendmask_adelaidet_r50.py'
