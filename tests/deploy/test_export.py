"""What can be exported, decided before tracing (check_exportable refuses
naming the op and the config key), the wrapper a model gets, and the traced
image's meta (every config family exported and run against PyTorch:
tests/deploy/test_export_configs.py)."""

import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config

from mmblend.deploy.export import (
    DetectorExport,
    check_exportable,
    export_module,
    image_meta,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'tests', 'configs', 'blendmask_tiny.py')


def tiny(**blender):
    cfg = copy.deepcopy(Config.fromfile(TINY).model)
    cfg.mask_head.blender.update(blender)
    return MODELS.build(cfg).eval()


def test_blendmask_is_exportable_and_wrapped():
    model = tiny()
    check_exportable(model)
    wrapper = export_module(model)
    assert type(wrapper) is DetectorExport and wrapper.model is model


def test_refusals_name_the_op_and_the_key():
    with pytest.raises(ValueError, match=r"op RoIPool .*blender\.pooler="):
        check_exportable(tiny(pooler='RoIPool'))
    with pytest.raises(ValueError, match="model.type='BlendMask'"):
        check_exportable(nn.Conv2d(3, 3, 1))


def test_image_meta_keeps_the_traced_img_shape():
    image, img_shape = torch.zeros(1, 3, 64, 96), torch.tensor([60, 90])
    meta = image_meta(image, img_shape)
    assert meta['img_shape'] is img_shape  # a graph input, not a constant
    assert tuple(meta['batch_input_shape']) == (64, 96)
    assert tuple(meta['pad_shape']) == (64, 96)
    assert meta['scale_factor'] == (1.0, 1.0)
