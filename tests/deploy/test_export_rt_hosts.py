"""Export of the real-time mixing configs (BlendMask on mmdet's RTMDet):
the config's architecture at tiny widths, random weights, every candidate
kept (``score_thr=0``), exported on one photo and compared with PyTorch on
two others (as the families of test_export_configs.py). YOLOX is not here
yet: with random weights two classes tie on one box, and the verification
tolerates near-tied scores, not near-tied labels."""

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


def small(config: str) -> Config:
    cfg = Config.fromfile(osp.join(MIXING, config))
    model = shrink_host(cfg.model.to_dict())
    model['mask_head'] = tiny_mask_head()
    model['mask_head']['basis']['in_channels'] = 32
    model['test_cfg'].update(score_thr=0.0, max_per_img=100)
    cfg.model = model
    for t in cfg.test_dataloader.dataset.pipeline:  # 320 px, as the graph
        if t['type'] == 'Resize':
            t['scale'] = (320, 320)
        if t['type'] == 'Pad' and 'size' in t:
            t['size'] = (320, 320)
    return cfg


def test_rtmdet_host_exports_with_parity(tmp_path):
    from mmdet.apis import init_detector

    cfg = small('blendmask-rtmdet_tiny_8xb32-300e_coco.py')
    torch.manual_seed(0)
    model = init_detector(cfg, None, device='cpu')
    export_configs.export_with_parity(cfg, model, tmp_path, 100)
