# Cascade Mask R-CNN R-50-FPN 1x on COCO with BlendMask's blender as its
# three mask heads (paper §4.3): mmdet's own config, unchanged except the
# mask heads (./_base_/blender_roi_mask_head.py: class-agnostic 28_4_14,
# DeepLabV3+ bases on P3+P5, semantic loss on P3). BlendCascadeRoIHead takes
# CascadeRoIHead's arguments, so only its `type` is overridden.
#
# The one mask_head dict serves the three stages, as in mmdet: one basis
# module (kept in mask_head[0]) computes the bases once per image; each
# stage has its own attention predictor and blends its attentions with the
# shared bases (R = every train_cfg.rcnn[i].mask_size = 28). Stage loss
# weights, box refinement and the test-time average of the stages' masks
# are mmdet's; the semantic loss is added once.
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/blender_roi_mask_head.py',
]

model = dict(
    roi_head=dict(
        type='BlendCascadeRoIHead', mask_head={{_base_.blend_roi_mask_head}}
    )
)
train_dataloader = dict(
    dataset=dict(pipeline={{_base_.blend_rcnn_train_pipeline}})
)
