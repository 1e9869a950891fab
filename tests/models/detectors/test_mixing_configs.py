"""BlendMask's mask branch on mmdet's one-stage detectors, from the
configs/mixing/ configs and the README's snippet: each builds, trains a step
on real photos (finite losses, gradients reach the top layer and the bases)
and predicts image-size masks through mmdet's inference API."""
import copy
import json
import os.path as osp
import re

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
MIXING = osp.join(REPO, 'configs', 'mixing')
CONFIGS = {
    'BlendATSSHead': 'blendmask-atss_r50_fpn_1x_coco.py',
    'BlendGFLHead': 'blendmask-gfl_r50_fpn_1x_coco.py',
    'BlendRetinaHead': 'blendmask-retinanet_r50_fpn_1x_coco.py',
    'BlendFCOSHead': 'blendmask-fcos_r50-caffe_fpn_gn-head_1x_coco.py',
}
DATA = osp.join(REPO, 'demo', 'data', 'coco128-seg')
PHOTOS = (34, 73)  # zebra (640x425), motorbikes (500x375)
SCALE = (224, 160)
GN8 = dict(type='GN', num_groups=8, requires_grad=True)


def small(cfg: Config) -> Config:
    """R-18 at quarter width, 32-channel FPN and heads, ~224x160 inputs,
    no pretrained weights; everything else as configured."""
    m = cfg.model
    m.backbone.update(depth=18, base_channels=16, init_cfg=None)
    m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    m.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=2)
    if m.bbox_head.get('norm_cfg') is not None:
        m.bbox_head.norm_cfg = GN8
    m.mask_head.basis.update(in_channels=32, channels=32,
                             low_level_channels=16, sem_channels=32,
                             norm_cfg=GN8)
    m.mask_head.blender.update(bottom_resolution=28, attn_size=7)
    for key in ('train_dataloader', 'test_dataloader'):
        for t in cfg[key].dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = SCALE
    return cfg


def real_batch(cfg: Config, model):
    """Real coco128-seg photos with their GT masks, through the config's own
    train pipeline (without the random flip)."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(data_root=DATA, ann_file='instances_train.json',
                  data_prefix=dict(img='images/train2017/'), filter_cfg=None)
    ds_cfg.pipeline = [t for t in ds_cfg.pipeline
                       if t['type'] != 'RandomFlip']
    ds = DATASETS.build(ds_cfg)
    index = {ds.get_data_info(i)['img_id']: i for i in range(len(ds))}
    items = [ds[index[i]] for i in PHOTOS]
    return model.data_preprocessor(
        dict(inputs=[d['inputs'] for d in items],
             data_samples=[d['data_samples'] for d in items]), True)


@pytest.mark.parametrize('host', list(CONFIGS))
def test_mixing_config_trains_and_predicts(host):
    from mmdet.apis import inference_detector

    cfg = small(Config.fromfile(osp.join(MIXING, CONFIGS[host])))
    assert cfg.model.bbox_head.type == host
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    data = real_batch(cfg, model)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_mask', 'loss_sem'} <= set(losses)
    flat = [t for v in losses.values() for t in (v if isinstance(v, list) else [v])]
    assert all(torch.isfinite(t).all() for t in flat)
    sum(t for k, v in losses.items() if 'loss' in k
        for t in (v if isinstance(v, list) else [v])).backward()
    for name, module in (('top layer', model.bbox_head.top_layer),
                         ('bases', model.mask_head.basis.bases)):
        grad = module.weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    # mmdet's inference API on a real photo, untrained: keep detections
    model.cfg = cfg
    model.bbox_head.test_cfg.score_thr = 0.0
    model.eval()
    photo = osp.join(DATA, 'images', 'train2017', '000000000034.jpg')
    pred = inference_detector(model, photo).pred_instances
    import mmcv
    h, w = mmcv.imread(photo).shape[:2]
    assert len(pred) > 0
    assert pred.masks.shape[1:] == (h, w) and pred.masks.dtype == torch.bool


def readme_snippet() -> str:
    """The README's complete mixing config (the block after 'Mixing into
    your detector')."""
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    section = text[text.index('### Mixing into your detector'):]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_readme_mixing_snippet_is_the_atss_config(tmp_path):
    """The README's snippet, verbatim, loads and resolves to what the
    shipped ATSS mixing config resolves to."""
    path = tmp_path / 'my_atss_blendmask.py'
    path.write_text(readme_snippet())
    snippet = Config.fromfile(str(path))
    shipped = Config.fromfile(osp.join(MIXING, CONFIGS['BlendATSSHead']))
    for key in ('model', 'train_dataloader', 'val_dataloader',
                'test_dataloader', 'val_evaluator', 'test_evaluator',
                'custom_imports', 'custom_hooks', 'train_cfg',
                'optim_wrapper', 'param_scheduler'):
        assert json.dumps(snippet[key], sort_keys=True) == json.dumps(
            shipped[key], sort_keys=True), key
