# Table 1, "Weighted-sum" (YOLACT analogue): the 28_4_4 model with the top
# resolution reduced to 1x1, i.e. one scalar per basis per instance
# (softmax over K, then a weighted sum of the K cropped bases).
_base_ = './_base_/blendmask_r50_ablation.py'
model = dict(mask_head=dict(blender=dict(bottom_resolution=28, attn_size=1)))
