# BlendMask R-50-FPN for COCO person keypoints 2017 (boxes, masks and 17
# keypoints), trained as detectron2's keypoint R-CNN R-50-FPN 3x for
# comparability (its published keypoint AP: 65.5): person_keypoints_train2017
# (images with >= 1 labelled keypoint), shorter side drawn from
# {640, ..., 800} (max 1333) with horizontal flip (left/right swapped), 270k
# iterations at batch 16 with steps at 210k and 250k; test at 800.
# Evaluation: box, mask and keypoint AP on person_keypoints_val2017
# (coco/keypoints_mAP). Learning rate: BlendMask's 0.01 (the FCOS family's;
# detectron2's R-CNN recipe uses 0.02).
_base_ = [
    '../_base_/models/blendmask_r50_fpn_keypoints.py',
    '../_base_/datasets/coco_person_keypoints_ms.py',
    '../_base_/schedules/schedule_3x.py',
    '../_base_/default_runtime.py',
]

max_iters = 270000
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
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)
visualizer = dict(type='KeypointDetLocalVisualizer')
