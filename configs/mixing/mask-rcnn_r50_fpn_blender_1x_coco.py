# Mask R-CNN R-50-FPN 1x on COCO with BlendMask's blender as its mask head
# (paper §4.3): mmdet's own config, unchanged except the mask head
# (./_base_/blender_roi_mask_head.py: class-agnostic 28_4_14, DeepLabV3+
# bases on P3+P5, semantic loss on P3). BlendRoIHead takes
# StandardRoIHead's arguments, so only its `type` is overridden.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/blender_roi_mask_head.py',
]

model = dict(
    roi_head=dict(
        type='BlendRoIHead', mask_head={{_base_.blend_roi_mask_head}}
    )
)
train_dataloader = dict(
    dataset=dict(pipeline={{_base_.blend_rcnn_train_pipeline}})
)
