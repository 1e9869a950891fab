"""Shrinking mmdet's detector configs for the mixing tests
(tests/models/detectors/test_mixing_sweep.py, test_mixing_configs.py):
the same architecture at tiny widths, no pretrained weights (imported by
plain name: tests/ is on sys.path through its conftest.py)."""

import copy
import os.path as osp

import mmdet
import pytest
import torch
from mmdet.registry import MODELS

from mmblend.models.dense_heads.blend_dino_head import (
    MIN_TORCH,
    torch_supported,
)

MIM = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
WIDTH = 32  # neck and head channels (GN with 32 groups works)

#: the tests that build a query host (BlendDINOHead,
#: BlendDeformableDETRHead): they refuse torch < MIN_TORCH (that refusal is
#: tested in tests/models/dense_heads/test_blend_dino_head.py)
needs_query_host_torch = pytest.mark.skipif(
    not torch_supported(),
    reason=f'the DETR hosts need torch >= {MIN_TORCH} '
    f'(this is {torch.__version__}); their refusal is tested',
)


def _cpu_norms(cfg):
    """Every BN with ``eps=0`` (NAS-FCOS's neck) at PyTorch's default eps:
    batch norm on the CPU refuses eps=0 in training."""
    if isinstance(cfg, dict):
        out = {k: _cpu_norms(v) for k, v in cfg.items()}
        if out.get('type') == 'BN' and out.get('eps') == 0:
            out['eps'] = 1e-5
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_cpu_norms(v) for v in cfg)
    return cfg


def shrink_backbone(backbone: dict) -> dict:
    """ResNet-18 at 1/8 width, or CSPNeXt / CSPDarknet at their smallest
    factors; no pretrained weights."""
    backbone = dict(backbone, init_cfg=None)
    if backbone['type'] in ('ResNet', 'ResNetV1d'):
        backbone.pop('dcn', None)
        backbone.pop('stage_with_dcn', None)
        backbone.update(depth=18, base_channels=8)
    elif backbone['type'] in ('CSPNeXt', 'CSPDarknet'):
        backbone.update(deepen_factor=0.167, widen_factor=0.125)
    else:
        raise NotImplementedError(backbone['type'])
    return backbone


def shrink_neck(neck: dict, in_channels) -> dict:
    """``neck`` on inputs of ``in_channels`` with ``WIDTH`` outputs."""
    neck = dict(neck, out_channels=WIDTH)
    if neck['type'] == 'DilatedEncoder':  # YOLOF: the last level only
        neck.update(
            in_channels=in_channels[-1],
            block_mid_channels=8,
            num_residual_blocks=1,
            block_dilations=[2],
        )
    else:
        neck['in_channels'] = list(in_channels[-len(neck['in_channels']) :])
    if 'num_csp_blocks' in neck:
        neck['num_csp_blocks'] = 1
    return neck


def shrink_host(model: dict) -> dict:
    """A detector config (plain dict) at tiny widths: backbone, neck and
    head shrunk, everything else (types, assigners, test settings) kept."""
    model = _cpu_norms(copy.deepcopy(model))
    model['backbone'] = shrink_backbone(model['backbone'])
    backbone = MODELS.build(model['backbone'])
    backbone.eval()
    with torch.no_grad():
        channels = [f.size(1) for f in backbone(torch.zeros(1, 3, 64, 64))]
    model['neck'] = shrink_neck(model['neck'], channels)
    head = model['bbox_head']
    head['in_channels'] = WIDTH
    if head['type'] == 'DDODHead':  # deformable convs need 3x3 maps (P7)
        head['use_dcn'] = False
    for key, value in (('feat_channels', WIDTH), ('stacked_convs', 1)):
        if key in head:
            head[key] = value
    return model


def tiny_mask_head(in_indices=(0, 2), **basis) -> dict:
    """BlendMask's mask branch at tiny widths; ``in_channels`` is left to
    the detector (taken from the neck) unless given in ``basis``."""
    return dict(
        type='BlendMaskMaskHead',
        basis=dict(
            type='DeepLabV3PlusBasis',
            in_indices=in_indices,
            out_stride=8,
            channels=WIDTH,
            low_level_channels=8,
            num_bases=4,
            num_classes=80,
            sem_in_index=0,
            sem_channels=WIDTH,
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
            **basis,
        ),
        blender=dict(
            type='Blender', num_bases=4, attn_size=7, bottom_resolution=14
        ),
    )
