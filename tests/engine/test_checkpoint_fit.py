"""A checkpoint of another config is refused with the number of unloaded
tensors (or, allowed, warned about); one of the same config fits."""

import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from mmblend.engine import CheckpointMismatchError, check_checkpoint_fits

TINY = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))),
    'configs',
    'blendmask_tiny.py',
)


def _model(**bbox_head):
    cfg = Config.fromfile(TINY)
    cfg.model.bbox_head.update(bbox_head)
    cfg.model.mask_head.basis.pop('num_classes', None)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_same_config_fits_other_config_is_refused(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint(_model().state_dict(), path)
    assert check_checkpoint_fits(_model(), path) == 0
    other = _model(num_classes=3)  # the classifier's last conv differs
    with pytest.raises(CheckpointMismatchError) as e:
        check_checkpoint_fits(other, path)
    msg = str(e.value)
    assert path in msg and '2 of the model' in msg
    assert '2 of another shape, 0 missing' in msg
    assert 'bbox_head.conv_cls.weight: (80, 32, 3, 3) -> (3, 32, 3, 3)' in msg
    assert '--allow-partial-checkpoint' in msg
    assert check_checkpoint_fits(other, path, allow_partial=True) == 2


def test_missing_tensors_are_counted(tmp_path):
    state = _model().state_dict()
    del state['bbox_head.top_layer.bias']
    path = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=state), path)
    with pytest.raises(CheckpointMismatchError, match='1 missing'):
        check_checkpoint_fits(_model(), path)
