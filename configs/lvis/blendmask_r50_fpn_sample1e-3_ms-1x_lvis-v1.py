# BlendMask R-50-FPN (the Table 8 model, blendmask_r50_fpn.py) on LVIS v1
# (1203 categories) with mmdet's LVIS v1 recipe and name
# (mmdet::lvis/mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py): repeat-factor
# sampling at 1e-3 and multi-scale training (lvis_v1_instance.py), the 1x
# schedule (ours: 90k iterations at batch 16), 300 detections per image at
# a low score threshold, LVIS AP (CompatLVISMetric).
_base_ = [
    '../_base_/models/blendmask_r50_fpn.py',
    '../_base_/datasets/lvis_v1_instance.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]

# The one place the class count is set; the detector refuses a semantic
# head whose num_classes differs from the box head's, and DatasetCheckHook
# checks both against the dataset's 1203 classes.
num_classes = 1203
model = dict(
    bbox_head=dict(num_classes=num_classes),
    mask_head=dict(basis=dict(num_classes=num_classes)),
    # mmdet's LVIS test_cfg (score_thr 1e-4, 300 per image). Our threshold
    # applies to sigmoid(cls) * sigmoid(centerness) before the sqrt of the
    # reported score (README "Scores"), i.e. reported scores >= 0.01.
    test_cfg=dict(score_thr=1e-4, max_per_img=300),
)
