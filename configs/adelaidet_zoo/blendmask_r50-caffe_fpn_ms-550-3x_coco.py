# AdelaiDet zoo BlendMask 550_R_50_3x (configs/BlendMask/550_R_50_3x.yaml on
# Base-550.yaml; AdelaiDet's README: box AP 38.7 / mask AP 34.5 on val2017,
# 28 FPS): BlendMask at 550 with the zoo recipe otherwise.
# * FCOS on P3-P6 (TOP_LEVELS 1: FPN num_outs=4), sizes of interest
#   64/128/256, ONE tower of 3 convs shared by classification and box
#   regression (NUM_SHARE_CONVS 3, NUM_CLS/BOX_CONVS 0);
# * Proto-FPN with 2 tower convs (BASIS_MODULE.NUM_CONVS 2);
# * shorter side in {440, 462, ..., 550} for training, 550 at test, longer
#   side <= 916 (../_base_/datasets/coco_instance_ms_550.py);
# * 270k iterations, steps 210k/250k (./_base_/adelaidet_r50_fpn_3x.py).
_base_ = [
    './_base_/adelaidet_r50_fpn_3x.py',
    '../_base_/datasets/coco_instance_ms_550.py',
]
model = dict(
    neck=dict(num_outs=4),
    bbox_head=dict(
        share_tower=True,
        stacked_convs=3,
        strides=[8, 16, 32, 64],
        regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 1e8)),
    ),
    mask_head=dict(basis=dict(num_convs=2)),
)

train_dataloader = dict(batch_size=2)
