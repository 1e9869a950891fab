# mmdet's runtime (default_scope mmdet, hooks, visualizer, env) with an
# iteration-based checkpoint and log, mmblend registered and our hooks.
_base_ = 'mmdet::_base_/default_runtime.py'

# Registers every mmblend module (models, CocoInstanceDataset,
# CompatLVISMetric, the hooks below, ...) in mmdet's registries. Set here
# and in no other base: mmengine refuses a key that two `_base_` files of
# one list both set, and every runnable config has exactly one runtime, so
# any `_base_/models/*` + `_base_/datasets/*` + schedule + this runtime
# composes (tests/configs_walk/test_base_pairs.py).
custom_imports = dict(imports=['mmblend'], allow_failed_imports=False)

default_hooks = dict(
    # iteration-based: validation metrics logged at the iteration (mmengine
    # logs them at the epoch, 0 here)
    logger=dict(log_metric_by_epoch=False),
    # atomic writes, old checkpoints deleted after the new one is complete
    checkpoint=dict(
        type='CrashSafeCheckpointHook',
        by_epoch=False,
        interval=10000,
        max_keep_ckpts=3,
    ),
)
log_processor = dict(by_epoch=False)

# Before the first iteration: the dataset's classes vs the heads' num_classes
# and GT masks in the train pipeline; every iteration: stop on a NaN/inf loss
# (mmblend/engine/dataset_check_hook.py, finite_loss_hook.py). A config that
# sets its own custom_hooks replaces this list: keep these two in it.
custom_hooks = [
    dict(type='DatasetCheckHook'),
    dict(type='FiniteLossHook', interval=1),
]

# `tools/test.py CONFIG CKPT --tta` (ours or mmdet's): the views of
# `tta_pipeline` (dataset configs) merged with their masks: boxes and masks
# unflipped, class-aware NMS, each kept box keeps its mask
# (mmblend/models/test_time_augs/det_tta_with_masks.py). Panoptic models
# refuse it with an error.
tta_model = dict(
    type='DetTTAModelWithMasks',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100),
)
