# Table 7, "+semantic": auxiliary semantic segmentation loss on P3
# (80 thing classes + background, weight 0.3).
_base_ = './blendmask_r50_fpn_p3p5-56-4-14-bilinear_1x_coco.py'
model = dict(mask_head=dict(basis=dict(num_classes=80, sem_in_index=0)))
