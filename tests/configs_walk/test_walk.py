"""Every config under configs/ builds and runs one loss and one predict step,
and trains with ``LoadCheckedImageFromFile`` while its test pipeline keeps
mmdet's ``LoadImageFromFile`` (which ``DetInferencer`` needs; mmblend's
tools validate and test with the checked loader).

The walk is a glob (``configs/**/*.py`` outside ``_base_`` folders), so
configs added later are covered automatically. Each model keeps its
architecture; only the input is tiny (2 images of 64x96 with 1-2 rectangle
objects) and pretrained weights are not loaded. Any registered mmdet model
is accepted, not only BlendMask variants.
"""

import copy
import time

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from module_utils import load_module

from mmblend.engine.cli import dataset_pipelines, use_checked_loader
from mmblend.models.dense_heads.blend_dino_head import (
    MIN_TORCH,
    BlendQueryHostMixin,
    torch_supported,
)

from .walk_utils import (
    all_configs,
    config_id,
    strip_pretrained,
    to_plain,
    zero_score_thr,
)

CONFIGS = all_configs()
IMG_SIZE = (64, 96)
# two-stage DETRs (DINO) take their num_queries (up to 900) queries from the
# encoder's tokens: the input needs as many (stride-8 level: 28 x 40)
DETR_SIZE = (224, 320)
TIMINGS = {}


def _load_make_batch():
    """``make_batch`` of the detector tests (loaded by path: tests/ is not a
    package)."""
    return load_module(
        'tests/models/detectors/test_blendmask.py', '_blendmask_det_tests'
    ).make_batch


_make_batch = _load_make_batch()


def make_batch(num_keypoints=0, **kwargs):
    """The detector tests' batch plus a semantic map (object pixels carry
    their label, the rest 255 = ignore) for models that also need
    ``gt_sem_seg`` (panoptic), and ``num_keypoints`` labelled keypoints
    spread over each box for models with a keypoint head."""
    inputs, samples = _make_batch(**kwargs)
    for s in samples:
        gt = s.gt_instances
        sem = torch.full(inputs.shape[-2:], 255, dtype=torch.long)
        for mask, label in zip(
            gt.masks.to_tensor(torch.bool, 'cpu'), gt.labels
        ):
            sem[mask] = label
        s.gt_sem_seg = PixelData(sem_seg=sem[None])
        if num_keypoints:
            frac = torch.linspace(0.1, 0.9, num_keypoints)[None, :, None]
            xy = gt.bboxes[:, None, :2] + frac * (
                gt.bboxes[:, None, 2:] - gt.bboxes[:, None, :2]
            )
            gt.keypoints = torch.cat(
                [xy, torch.full_like(xy[..., :1], 2)], dim=2
            )
    return inputs, samples


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: the tiny inputs gain nothing from more, and on a
    shared 2-core machine extra threads spin and multiply the wall time."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


pytestmark = pytest.mark.usefixtures('runner_info')


def _num_classes(model_cfg) -> int:
    for head in ('bbox_head', 'roi_head', 'mask_head', 'panoptic_head'):
        h = model_cfg.get(head)
        if isinstance(h, dict):
            if isinstance(h.get('num_classes'), int):
                return h['num_classes']
            for sub in h.values():
                if isinstance(sub, dict) and isinstance(
                    sub.get('num_classes'), int
                ):
                    return sub['num_classes']
                if (
                    isinstance(sub, list)
                    and sub
                    and isinstance(sub[0], dict)
                    and isinstance(sub[0].get('num_classes'), int)
                ):
                    return sub[0]['num_classes']
    return 80


def _loaders(cfg, key):
    return {
        t['type']
        for p in dataset_pipelines(cfg[key].get('dataset'))
        for t in p
        if t['type'].startswith('Load') and 'Image' in t['type']
    }


def check_loaders(cfg) -> None:
    """Training: the checked loader; test pipeline: mmdet's name; after the
    tools' :func:`use_checked_loader`: the checked loader for val/test."""
    checked = {'LoadCheckedImageFromFile'}
    assert _loaders(cfg, 'train_dataloader') == checked
    assert get_test_pipeline_cfg(cfg)[0]['type'] == 'LoadImageFromFile'
    cfg = copy.deepcopy(cfg)
    use_checked_loader(cfg)
    for key in ('val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            assert _loaders(cfg, key) == checked, key
    if 'tta_pipeline' in cfg:
        assert cfg.tta_pipeline[0]['type'] == 'LoadCheckedImageFromFile'


def test_walk_finds_the_configs():
    ids = {config_id(p) for p in CONFIGS}
    assert {
        'blendmask_r50_3x.py',
        'blendmask_r50_fpn_1x_coco.py',
        'blendmask_r101-dcni3_fpn_ms-3x_coco.py',
        'blendmask-rt_r50_fpn_ms-550-3x_coco.py',
        'ablations/blendmask_r50_fpn_c3c5-28-4-2_1x_coco.py',
        'adelaidet_zoo/blendmask_r101-caffe-dcni3_fpn_ms-crop-5x_coco.py',
    } <= ids
    assert not any('_base_' in i for i in ids)
    # the old names of renamed configs are not walked twice
    assert not {'blendmask_r50_1x.py', 'ablations/t2_r28_m2.py'} & ids


@pytest.mark.parametrize('path', CONFIGS, ids=[config_id(p) for p in CONFIGS])
def test_config_builds_and_runs(path):
    t0 = time.perf_counter()
    cfg = Config.fromfile(str(path))
    if 'model' not in cfg:
        pytest.skip(f'{config_id(path)} defines no model')
    check_loaders(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = strip_pretrained(to_plain(cfg.model))
    if isinstance(model_cfg.get('test_cfg'), dict):
        model_cfg['test_cfg'] = zero_score_thr(model_cfg['test_cfg'])
    num_classes = _num_classes(model_cfg)
    num_keypoints = (
        (model_cfg.get('keypoint_head') or {})
        .get('blender', {})
        .get('num_keypoints', 0)
    )
    size = DETR_SIZE if model_cfg.get('as_two_stage') else IMG_SIZE

    head = (model_cfg.get('bbox_head') or {}).get('type')
    if (
        head
        and not torch_supported()
        and issubclass(MODELS.get(head), BlendQueryHostMixin)
    ):
        pytest.skip(f'{head} needs torch >= {MIN_TORCH}')

    torch.manual_seed(0)
    model = MODELS.build(ConfigDict(model_cfg))
    model.init_weights()  # as a runner does (an untrained RTMDet's default
    model.train()  # PyTorch init decodes no valid box)

    # one loss step: finite losses, gradients reach the parameters
    inputs, samples = make_batch(
        size=size, num_classes=num_classes, num_keypoints=num_keypoints
    )
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss), log_vars
    for name, value in log_vars.items():
        assert torch.isfinite(torch.as_tensor(value)), (name, value)
    loss.backward()
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in model.parameters()
    )

    # one predict step on the same tiny images
    model.eval()
    inputs, samples = make_batch(
        size=size, num_classes=num_classes, num_keypoints=num_keypoints, seed=1
    )
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), False
    )
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == len(samples)
    for res in results:
        pred = res.pred_instances
        assert pred.bboxes.shape[-1] == 4
        assert torch.isfinite(pred.scores).all()
        if 'masks' in pred and len(pred) > 0:
            assert tuple(pred.masks.shape[1:]) == size
    if model_cfg.get('type') == 'BlendMask':
        # score_thr is 0: the mask branch must have produced masks
        assert any(len(r.pred_instances) > 0 for r in results)
        assert all('masks' in r.pred_instances for r in results)
        if num_keypoints:
            assert all(
                r.pred_instances.keypoints.shape[1:] == (num_keypoints, 2)
                for r in results
            )
    TIMINGS[config_id(path)] = time.perf_counter() - t0
