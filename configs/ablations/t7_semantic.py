# Table 7, "+semantic": auxiliary semantic segmentation loss on P3
# (80 thing classes + background, weight 0.3).
_base_ = './t7_baseline_r56_m14.py'
model = dict(mask_head=dict(basis=dict(num_classes=80, sem_in_index=0)))
