"""Export of the real-time mixing configs (BlendMask on mmdet's RTMDet and
YOLOX): the config's architecture at tiny widths, random weights, every
candidate kept (``score_thr=0``), exported on one photo and compared with
PyTorch on two others (as the families of test_export_configs.py). YOLOX
keeps one label per candidate (the best class): with random weights two
classes of one candidate can tie, which the matching tolerates once per
photo (a label tie)."""

import os.path as osp

import pytest
import torch
from mixing_utils import shrink_host, tiny_mask_head
from mmengine.config import Config
from module_utils import load_module

pytest.importorskip('onnxruntime')
export_configs = load_module(
    'tests/deploy/test_export_configs.py', '_export_configs'
)
MIXING = osp.join(export_configs.REPO, 'configs', 'mixing')


PHOTOS = ('000000000034.jpg', '000000000073.jpg', '000000000138.jpg')


def small(config: str, size: int = 320) -> Config:
    cfg = Config.fromfile(osp.join(MIXING, config))
    model = shrink_host(cfg.model.to_dict())
    model['mask_head'] = tiny_mask_head()
    model['mask_head']['basis']['in_channels'] = 32
    model['test_cfg'].update(score_thr=0.0, max_per_img=100)
    cfg.model = model
    for t in cfg.test_dataloader.dataset.pipeline:  # as the graph
        if t['type'] == 'Resize':
            t['scale'] = (size, size)
        if t['type'] == 'Pad' and 'size' in t:
            t['size'] = (size, size)
    return cfg


def test_rtmdet_host_exports_with_parity(tmp_path):
    from mmdet.apis import init_detector

    cfg = small('blendmask-rtmdet_tiny_8xb32-300e_coco.py')
    torch.manual_seed(0)
    model = init_detector(cfg, None, device='cpu')
    export_configs.export_with_parity(cfg, model, tmp_path, 100)


def test_yolox_host_exports_with_parity(tmp_path):
    """YOLOX with random weights saturates (every score 1.0, boxes of 1e8
    px from the exponent of its size regression) and keeps every candidate
    NMS leaves (it has no ``max_per_img`` cut). Made usable: BN statistics
    of the three photos, output convs scaled down (scores spread over
    0.15-0.99), boxes ~7 strides wide and NMS at IoU 0.3 at 160 px (110-160
    detections per photo)."""
    from mmdet.apis import init_detector

    from mmblend.deploy import Preprocessor

    cfg = small('blendmask-yolox_s_8xb8-300e_coco.py', size=160)
    cfg.model.test_cfg.nms.iou_threshold = 0.3
    torch.manual_seed(0)
    model = init_detector(cfg, None, device='cpu')
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # the plain average of the batches seen
    model.train()
    with torch.no_grad():
        for name in PHOTOS:
            model._forward(
                Preprocessor(cfg)(osp.join(export_configs.PHOTOS, name))[0]
            )
    model.eval()
    head = model.bbox_head
    for convs, scale in (
        (head.multi_level_conv_cls, 0.2),
        (head.multi_level_conv_obj, 0.2),
        (head.multi_level_conv_reg, 0.02),
    ):
        for conv in convs:
            conv.weight.data.mul_(scale)
    for conv in head.multi_level_conv_reg:
        conv.bias.data[2:4] += 2  # log of the box size in strides
    export_configs.export_with_parity(cfg, model, tmp_path, 0)
