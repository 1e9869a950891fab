# Table 7, "+128" (the caption's name for widening the bottom module from
# 128 to 256 channels), on top of "+semantic". This is the model of
# blendmask_r50_fpn_1x_coco.py.
_base_ = './blendmask_r50_fpn_p3p5-56-4-14-bilinear-sem_1x_coco.py'
model = dict(mask_head=dict(basis=dict(channels=256)))
