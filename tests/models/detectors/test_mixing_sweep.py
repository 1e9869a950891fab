"""The mixing sweep over mmdet's own configs (the table of hosts,
host_support.HOSTS: tests/models/dense_heads/test_host_support.py): each
supported host, built by the BlendMask detector from its row's mmdet config
(shrunk widths), trains a step and predicts masks; each unsupported one is
refused at build time with the table's reason. One representative config per
head type, 64-px inputs: about 30 s on one CPU core."""

import os.path as osp
import re

import pytest
import torch
from mixing_utils import MIM, shrink_host, tiny_mask_head
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from module_utils import load_module

from mmblend.models.dense_heads.host_support import HOSTS

make_batch = load_module(
    'tests/models/detectors/test_blendmask.py', '_sweep_blendmask_tests'
).make_batch
ROWS = [h for h in HOSTS if h.config]
REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)


@pytest.fixture(autouse=True)
def epoch_info():
    """TOOD reads the runner's epoch from the message hub (first epoch: its
    ATSS assignment); no loop length, as outside a runner."""
    from mmengine.logging import MessageHub

    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 0)
    hub.runtime_info.pop('max_epochs', None)
    yield
    hub.runtime_info.pop('epoch', None)


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def mixed_model(host) -> dict:
    """BlendMask on the row's mmdet config: the host's backbone, neck, head
    (as its Blend class), train and test settings, at tiny widths."""
    model = Config.fromfile(osp.join(MIM, host.config)).model.to_dict()
    assert model['bbox_head']['type'] == host.head
    mask_head = tiny_mask_head()
    if host.blend:
        if host.head == 'YOLOFHead':  # C3 + C5 for the bases (see the table)
            model['backbone']['out_indices'] = (1, 3)
        model = shrink_host(model)
        if host.head == 'YOLOFHead':
            mask_head = tiny_mask_head(
                (0, 1), feat_source='backbone', in_channels=(16, 64)
            )
    test_cfg = dict(model.get('test_cfg') or {}, score_thr=0.0)
    return ConfigDict(
        type='BlendMask',
        backbone=model['backbone'],
        neck=model['neck'],
        bbox_head=dict(
            model['bbox_head'], type=host.blend or 'Blend' + host.head
        ),
        mask_head=mask_head,
        train_cfg=model.get('train_cfg'),
        test_cfg=test_cfg,
    )


@pytest.mark.parametrize('host', ROWS, ids=[h.head for h in ROWS])
def test_sweep_on_mmdets_config(host):
    cfg = mixed_model(host)
    if host.blend is None:
        with pytest.raises(ValueError, match=re.escape(host.note)):
            MODELS.build(cfg)
        return
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    inputs, samples = make_batch(size=(64, 64))
    losses = model.loss(inputs, samples)
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss) and losses['loss_mask'] > 0, log_vars
    loss.backward()
    for name, module in (
        ('top layer', model.bbox_head.top_layer),
        ('bases', model.mask_head.basis.bases),
    ):
        assert module.weight.grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        results = model.predict(inputs, samples)
    for res in results:
        assert len(res.pred_instances) > 0
        assert res.pred_instances.masks.shape[1:] == (64, 64)


def test_a_plain_mmdet_head_names_its_blend_host():
    """mmdet's own ATSSHead (no top layer) is refused before anything is
    built, naming BlendATSSHead, instead of Python's "unexpected keyword
    argument 'attn_channels'"."""
    host = next(h for h in HOSTS if h.head == 'ATSSHead')
    cfg = mixed_model(host)
    cfg['bbox_head']['type'] = 'ATSSHead'
    with pytest.raises(
        ValueError,
        match="type='BlendATSSHead'.*Supported hosts: BlendRetinaHead",
    ):
        MODELS.build(cfg)
