# The Proto-FPN bottom module (paper Table 7 "Proto-FPN", BlendMask-RT,
# AdelaiDet's zoo): P3/P4/P5 each refined to 128 channels by a 3x3 conv,
# summed at stride 8, 2 convs, x2 upsampling, 1 conv, 1x1 conv -> K=4 bases
# at stride 4; semantic loss (weight 0.3) on P3 over the 80 COCO classes.
# A variable, not a `model` (mmengine refuses a key that two bases of one
# list both set): list this file beside the model's base and replace the
# basis with it, overriding what differs, e.g.
#   _base_ = ['./blendmask_r50_3x.py', './_base_/basis/protonet_basis.py']
#   model = dict(mask_head=dict(
#       basis=dict(_base_.protonet_basis, _delete_=True, num_convs=3)))
# (the blender takes the bases' stride, 4, and number from the basis; the
# basis takes its in_channels from the neck)
protonet_basis = dict(
    type='ProtoNetBasis',
    in_indices=(0, 1, 2),  # P3, P4, P5
    out_stride=4,
    channels=128,
    refine_channels=128,
    num_convs=2,
    num_bases=4,
    num_classes=80,
    sem_in_index=0,
    sem_loss_weight=0.3,
    norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
)
