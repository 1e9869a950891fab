# BlendMask R-50-FPN for people: boxes, masks and the 17 COCO keypoints.
# The blendmask_r50_fpn.py model with one class (person) and the keypoint
# branch (mmblend BlendKeypointHead, docs/keypoints.md):
# * bottom: a second DeepLabV3+ (width 128) on P3+P5 predicting
#   17 x 4 = 68 keypoint-specific bases at stride 8;
# * top: one shared [4, 14, 14] attention per instance, so the top layer
#   grows by 4*14*14 = 784 channels (1.8M parameters, the mask branch's
#   share again); shared bases with per-keypoint attentions would need
#   17*4*14*14 = 13328 channels (30.7M parameters);
# * blender: 56 x 56 heatmap logits per keypoint, Mask R-CNN's keypoint
#   loss (spatial softmax cross-entropy per labelled keypoint).
_base_ = './blendmask_r50_fpn.py'

num_classes = 1
num_keypoints = 17
model = dict(
    bbox_head=dict(num_classes=num_classes),
    mask_head=dict(basis=dict(num_classes=num_classes)),
    keypoint_head=dict(
        type='BlendKeypointHead',
        basis=dict(
            type='DeepLabV3PlusBasis',
            in_channels=256,
            in_indices=(0, 2),  # P3, P5
            out_stride=8,
            channels=128,
            num_bases=num_keypoints * 4,
            num_classes=None,
            norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        ),
        blender=dict(
            type='KeypointBlender',
            num_keypoints=num_keypoints,
            shared_bases=False,
            shared_attention=True,
            attn_size=14,
            bottom_resolution=56,
        ),
        loss_weight=1.0,
        # memory: the loss crops 68 bases per positive ([P, 68, 56, 56])
        max_proposals=256,
    ),
)
