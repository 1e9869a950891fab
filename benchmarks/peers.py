"""Full-size (R-50) model configs of BlendMask and its peers for the speed
benchmarks. Random weights (every backbone ``init_cfg=None``)."""

import common

CONFIGS = {
    'blendmask': ('repo', 'configs/blendmask_r50_fpn_1x_coco.py'),
    'mask_rcnn': ('mim', 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'),
    'condinst': (
        'mim',
        'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py',
    ),
    'yolact': ('mim', 'yolact/yolact_r50_1xb8-55e_coco.py'),
    'fcos': (
        'mim',
        'fcos/fcos_r50-caffe_fpn_gn-head-center-normbbox-'
        'centeronreg-giou_1x_coco.py',
    ),
    'blendmask_rt': ('repo', 'configs/blendmask-rt_r50_fpn_ms-550-3x_coco.py'),
    # the paper's ablation width (128) of the same bottom module
    'blendmask_w128': (
        'repo',
        'configs/ablations/'
        'blendmask_r50_fpn_p3p5-56-4-14-bilinear-sem_1x_coco.py',
    ),
}
LABELS = {
    'blendmask': 'BlendMask R50 (56_4_14)',
    'mask_rcnn': 'Mask R-CNN R50-FPN',
    'condinst': 'CondInst R50',
    'yolact': 'YOLACT R50',
    'fcos': 'FCOS R50 (box only)',
    'blendmask_rt': 'BlendMask-RT R50',
    'blendmask_w128': 'BlendMask R50, bottom width 128 (Table 7 +semantic)',
}


def load_cfg(name: str, num_dets: int = 100, native_yolact: bool = False):
    """Config of ``name`` with random init and ``num_dets`` forced
    detections (see :func:`common.force_dets`).

    YOLACT's anchors are tied to its 550x550 input; unless
    ``native_yolact`` they are placed at the real strides 8..128 so it runs
    at any input size.
    """
    from mmengine.config import Config

    kind, rel = CONFIGS[name]
    path = (
        common.repo_config(rel) if kind == 'repo' else common.mim_config(rel)
    )
    cfg = Config.fromfile(path)
    common.strip_init(cfg.model)
    if name == 'fcos':
        # same pytorch-style R-50 and preprocessing as the others
        cfg.model.backbone.style = 'pytorch'
        cfg.model.data_preprocessor.update(
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
        )
    if name == 'yolact' and not native_yolact:
        cfg.model.bbox_head.anchor_generator.update(
            strides=[8, 16, 32, 64, 128], centers=None
        )
    if num_dets:
        common.force_dets(cfg.model, num_dets)
    return cfg
