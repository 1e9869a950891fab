"""The basis module's in_channels against the neck (issue 26 §3): BlendMask
takes it from model.neck.out_channels when it is left out, refuses a
mismatch at build time naming model.mask_head.basis.in_channels, and a
basis module reading other features checks them at the first forward,
instead of a raw torch shape error inside the first convolution."""

import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from module_utils import load_module

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
TINY = osp.join(REPO, 'tests', 'configs', 'blendmask_tiny.py')
make_batch = load_module(
    'tests/models/detectors/test_blendmask.py', '_in_channels_blendmask_tests'
).make_batch


def tiny(width):
    """The tiny BlendMask with a ``width``-channel FPN and box head."""
    cfg = Config.fromfile(TINY).model
    cfg.neck.out_channels = width
    cfg.bbox_head.update(in_channels=width, feat_channels=width)
    return cfg


def test_left_out_it_is_taken_from_the_neck():
    cfg = tiny(48)
    cfg.mask_head.basis.pop('in_channels')
    model = MODELS.build(cfg)
    assert model.mask_head.basis.in_channels == [48, 48]
    losses = model.loss(*make_batch())
    assert torch.isfinite(losses['loss_mask'])


def test_from_the_last_of_a_list_of_necks():
    """mmdet's DyHead configs chain necks: [FPN, DyHead]."""
    from mmblend.models.detectors.blendmask import fill_basis_in_channels

    basis = {}
    fill_basis_in_channels(
        basis,
        [
            dict(type='FPN', out_channels=256),
            dict(type='DyHead', out_channels=64),
        ],
    )
    assert basis == dict(in_channels=64)


def test_a_mismatch_is_refused_when_built():
    cfg = tiny(48)  # the tiny config's basis says in_channels=32
    with pytest.raises(
        ValueError,
        match=r'model\.mask_head\.basis\.'
        r'in_channels=32 .* 48 channels .*model\.neck\.'
        r'out_channels',
    ):
        MODELS.build(cfg)


def test_backbone_inputs_are_checked_at_the_first_forward():
    """C3 + C5 of the tiny R-18 have 32 and 128 channels; a basis built for
    R-50's (512, 2048) stops with an error naming the key."""
    cfg = ConfigDict(copy.deepcopy(Config.fromfile(TINY).model))
    cfg.mask_head.basis.update(
        feat_source='backbone',
        in_indices=(1, 3),
        in_channels=(512, 2048),
        sem_in_channels=512,
    )
    model = MODELS.build(cfg)
    with pytest.raises(
        ValueError,
        match=r'in_channels=\[512, 2048\].* '
        r'\[32, 128\] channels: set model\.mask_head\.basis\.'
        r'in_channels=\[32, 128\]',
    ):
        model.loss(*make_batch())
