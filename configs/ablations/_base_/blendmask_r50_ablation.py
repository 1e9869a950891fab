# The paper's ablation base (§4 "Training details", Tables 1-4):
# R-50, FCOS 1x (90k iterations, batch 16, lr 0.01, steps 60k/80k, 1k
# warm-up), single scale 800x1333; DeepLabV3+ bottom module of width 128 on
# backbone C3+C5 (bases at stride 8), no semantic loss; K=4 bases, R=56,
# M=7 (the baseline "R = 56 and M = 7" of §4.1), RoIAlign bottom pooling,
# nearest-neighbour top interpolation (Tables 2-3).
_base_ = [
    '../../_base_/models/blendmask_r50_fpn.py',
    '../../_base_/datasets/coco_instance.py',
    '../../_base_/schedules/schedule_1x.py',
    '../../_base_/default_runtime.py',
]
model = dict(
    mask_head=dict(
        basis=dict(
            feat_source='backbone',
            in_indices=(1, 3),  # C3, C5 of the backbone outputs C2..C5
            in_channels=(512, 2048),
            channels=128,
            num_classes=None,
        ),
        blender=dict(bottom_resolution=56, attn_size=7, top_interp='nearest'),
    )
)
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(base_batch_size=16)
