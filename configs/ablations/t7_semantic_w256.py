# Table 7, "+128" (the caption's name for widening the bottom module from
# 128 to 256 channels), on top of "+semantic". This is the model of
# blendmask_r50_1x.py.
_base_ = './t7_semantic.py'
model = dict(mask_head=dict(basis=dict(channels=256)))
