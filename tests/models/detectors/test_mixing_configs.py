"""BlendMask's mask branch on mmdet's one-stage detectors, from the
configs/mixing/ configs and the mixing guide's snippet: each builds, trains
a step on real photos (finite losses, gradients reach the top layer and the
bases) and predicts image-size masks through mmdet's inference API; each
config's training pipelines (all stages) keep every GT mask with its box on
real photos; the RTMDet-tiny config is mmdet's RTMDet-tiny with the mixing
changes of RTMDet-s; TOOD refuses an iteration-based loop."""

import copy
import json
import os.path as osp
import random
import re

import numpy as np
import pytest
import torch
from mixing_utils import MIM, shrink_host
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config

from mmblend.models.dense_heads.host_support import HOSTS

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
MIXING = osp.join(REPO, 'configs', 'mixing')
# config -> host, from the sweep's table
CONFIGS = {m: h.blend for h in HOSTS for m in h.mixing}
ATSS = 'blendmask-atss_r50_fpn_1x_coco.py'
DATA = osp.join(REPO, 'demo', 'data', 'coco128-seg')
PHOTOS = (34, 73)  # zebra (640x425), motorbikes (500x375)
SCALE = (224, 160)
GN8 = dict(type='GN', num_groups=8, requires_grad=True)
COCO128 = dict(
    data_root=DATA,
    ann_file='instances_train.json',
    data_prefix=dict(img='images/train2017/'),
    filter_cfg=None,
)


pytestmark = pytest.mark.usefixtures('runner_info')


def small(cfg: Config) -> Config:
    """The host's backbone, neck and head at tiny widths
    (mixing_utils.shrink_host), a 32-channel bottom module (in_channels
    from the neck), ~224x160 test inputs, no pretrained weights;
    everything else as configured."""
    m = cfg.model
    shrunk = shrink_host(m.to_dict())
    for key in ('backbone', 'neck', 'bbox_head'):
        m[key] = shrunk[key]
    m.mask_head.basis.pop('in_channels', None)
    m.mask_head.basis.update(
        channels=32, low_level_channels=16, sem_channels=32, norm_cfg=GN8
    )
    m.mask_head.blender.update(bottom_resolution=28, attn_size=7)
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = SCALE
        if t['type'] == 'Pad' and 'size' in t:
            t.update(size=None, size_divisor=32)
    return cfg


def real_batch(model):
    """Real coco128-seg photos of two sizes with their GT masks, resized to
    ~224x160, through the model's data preprocessor."""
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(
            type='LoadAnnotations',
            with_bbox=True,
            with_mask=True,
            poly2mask=False,
        ),
        dict(type='Resize', scale=SCALE, keep_ratio=True),
        dict(type='Pad', size_divisor=32),  # as RTMDet's pipeline pads
        dict(type='PackDetInputs'),
    ]
    ds = DATASETS.build(dict(type='CocoDataset', pipeline=pipeline, **COCO128))
    index = {ds.get_data_info(i)['img_id']: i for i in range(len(ds))}
    items = [ds[index[i]] for i in PHOTOS]
    return model.data_preprocessor(
        dict(
            inputs=[d['inputs'] for d in items],
            data_samples=[d['data_samples'] for d in items],
        ),
        True,
    )


@pytest.mark.parametrize('config', list(CONFIGS))
def test_mixing_config_trains_and_predicts(config):
    from mmdet.apis import inference_detector

    cfg = small(Config.fromfile(osp.join(MIXING, config)))
    assert cfg.model.bbox_head.type == CONFIGS[config]
    assert cfg.val_evaluator.metric == ['bbox', 'segm']
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    data = real_batch(model)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_mask', 'loss_sem'} <= set(losses)
    loss, log_vars = model.parse_losses(losses)
    assert all(torch.isfinite(v) for v in log_vars.values()), log_vars
    loss.backward()
    for name, module in (
        ('top layer', model.bbox_head.top_layer),
        ('bases', model.mask_head.basis.bases),
    ):
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


def train_pipelines(cfg: Config):
    """``(stage, dataset config)`` of each training data stage of a config:
    its train dataset; the stage-2 pipeline of mmdet's PipelineSwitchHook;
    YOLOX's last epochs (YOLOXModeSwitchHook's skipped augmentations)."""
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    leaf = dataset.get('dataset', dataset)  # MultiImageMixDataset's
    leaf.update(COCO128)
    yield 'train', dataset
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] == 'PipelineSwitchHook':
            yield 'stage 2', dict(dataset, pipeline=hook['switch_pipeline'])
        if hook['type'] == 'YOLOXModeSwitchHook':
            yield (
                'last epochs',
                dict(dataset, skip_type_keys=hook['skip_type_keys']),
            )


def box_iou(a, b):
    """IoU of matching rows of two ``[N, 4]`` box tensors."""
    lt = torch.max(a[:, :2], b[:, :2])
    rb = torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.mark.parametrize('config', list(CONFIGS))
def test_mixing_train_pipelines_keep_masks_with_their_boxes(config):
    """Every training stage of the config (mosaics and mixups included)
    yields, on real photos, one GT mask per GT box, at the image's padded
    size, whose extent is its box (IoU >= 0.75)."""
    cfg = Config.fromfile(osp.join(MIXING, config))
    stages = list(train_pipelines(cfg))
    for stage, ds_cfg in stages:
        random.seed(0)
        np.random.seed(0)
        ds = DATASETS.build(ds_cfg)
        num_boxes = 0
        for i in range(8):  # the caches of the mosaics and mixups fill
            sample = ds[i]['data_samples']
            gt = sample.gt_instances
            boxes = gt.bboxes.tensor
            assert len(gt.masks) == len(boxes), (stage, i)
            assert (gt.masks.height, gt.masks.width) == sample.metainfo.get(
                'pad_shape', sample.img_shape
            ), (stage, i)
            if len(boxes):
                extent = torch.as_tensor(gt.masks.get_bboxes('hbox').tensor)
                iou = box_iou(boxes, extent.to(boxes))
                # COCO's boxes are not always the polygons' tight extent
                # (down to 0.81 here); a box paired with another instance's
                # mask would be far off
                assert (iou >= 0.75).all(), (stage, i, iou.min())
            num_boxes += len(boxes)
        assert num_boxes > 0, stage
    assert len(stages) == {'blendmask-rtmdet': 2, 'blendmask-yolox': 2}.get(
        config[: config.index('_')], 1
    )


def test_rtmdet_tiny_is_mmdets_tiny_with_the_mixing_changes():
    """The tiny mixing config (ours RTMDet-s + mmdet's tiny changes) equals
    mmdet's RTMDet-tiny in everything that mixing does not change, and
    makes the same mixing changes as the RTMDet-s config."""
    ours = Config.fromfile(
        osp.join(MIXING, 'blendmask-rtmdet_tiny_8xb32-300e_coco.py')
    )
    mmdet_tiny = Config.fromfile(
        osp.join(MIM, 'rtmdet', 'rtmdet_tiny_8xb32-300e_coco.py')
    )
    ours_s = Config.fromfile(
        osp.join(MIXING, 'blendmask-rtmdet_s_8xb32-300e_coco.py')
    )
    mmdet_s = Config.fromfile(
        osp.join(MIM, 'rtmdet', 'rtmdet_s_8xb32-300e_coco.py')
    )

    def dumps(x):
        return json.dumps(x, sort_keys=True, default=str)

    for key in ('backbone', 'neck'):
        assert dumps(ours.model[key]) == dumps(mmdet_tiny.model[key]), key
    assert dumps(dict(ours.model.bbox_head, type='RTMDetSepBNHead')) == dumps(
        mmdet_tiny.model.bbox_head
    )
    assert ours.model.mask_head == ours_s.model.mask_head
    # the train pipeline: mmdet's tiny one with the changes s makes in s's
    for mixed, orig, mixed_s, orig_s in zip(
        ours.train_pipeline[:-2],
        mmdet_tiny.train_pipeline[:-1],
        ours_s.train_pipeline[:-2],
        mmdet_s.train_pipeline[:-1],
    ):
        # (the loader's type is one of the changes: the checked loader)
        assert orig['type'] == orig_s['type']
        assert mixed['type'] == mixed_s['type']
        changes = {k: v for k, v in mixed_s.items() if orig_s.get(k) != v}
        assert dumps(mixed) == dumps(dict(orig, **changes)), mixed['type']
    assert [
        t['type']
        for t in ours.train_pipeline[len(mmdet_tiny.train_pipeline) - 1 :]
    ] == ['FilterAnnotations', 'PackDetInputs']


def test_tood_config_refuses_an_iteration_loop(tmp_path):
    """The TOOD mixing config under an IterBasedTrainLoop (the epoch never
    advances, so TOOD would never leave its ATSS assignment) stops at the
    first loss with an error naming train_cfg."""
    from mmengine.runner import Runner

    cfg = small(
        Config.fromfile(osp.join(MIXING, 'blendmask-tood_r50_fpn_1x_coco.py'))
    )
    cfg.train_dataloader.update(
        batch_size=1, num_workers=0, persistent_workers=False
    )
    cfg.train_dataloader.dataset.update(COCO128)
    cfg.train_dataloader.dataset.pipeline[2]['scale'] = SCALE
    cfg.merge_from_dict(
        dict(
            work_dir=str(tmp_path),
            train_cfg=dict(
                _delete_=True, type='IterBasedTrainLoop', max_iters=2
            ),
            val_cfg=None,
            val_dataloader=None,
            val_evaluator=None,
            param_scheduler=[],
            log_level='WARNING',
        )
    )
    cfg.custom_hooks = []  # DatasetCheckHook would read the whole dataset
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
        RuntimeError, match='max_epochs=1.*EpochBasedTrainLoop'
    ):
        runner.train()


def snippet(doc: str, heading: str) -> str:
    """The first Python block after ``heading`` in ``doc``."""
    with open(osp.join(REPO, doc), encoding='utf-8') as f:
        text = f.read()
    section = text[text.index(heading) :]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def test_documented_mixing_snippet_is_the_atss_config(tmp_path):
    """The snippet of the mixing guide, verbatim, loads and resolves to
    what the shipped ATSS mixing config resolves to."""
    path = tmp_path / 'my_atss_blendmask.py'
    path.write_text(snippet('docs/mixing.md', '## The ATSS example'))
    snippet_cfg = Config.fromfile(str(path))
    shipped = Config.fromfile(osp.join(MIXING, ATSS))
    for key in (
        'model',
        'train_dataloader',
        'val_dataloader',
        'test_dataloader',
        'val_evaluator',
        'test_evaluator',
        'custom_imports',
        'custom_hooks',
        'train_cfg',
        'optim_wrapper',
        'param_scheduler',
    ):
        assert json.dumps(snippet_cfg[key], sort_keys=True) == json.dumps(
            shipped[key], sort_keys=True
        ), key
