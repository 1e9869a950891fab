"""configs/lvis/: the LVIS v1 recipe of mmdet's LVIS Mask R-CNN applied to
BlendMask, and the paper's Table 11 config (the last Table 8 model evaluated
against the cocofied LVIS annotations). End to end through mmdet's tools:
tests/tools/test_lvis_mmdet_tools.py."""

import os.path as osp

import mmdet
import pytest
from mmdet.registry import MODELS
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

from .walk_utils import (
    CONFIG_ROOT,
    changed_keys,
    flat_config,
    strip_pretrained,
    to_plain,
)

LVIS_V1 = (
    CONFIG_ROOT / 'lvis' / 'blendmask_r50_fpn_sample1e-3_ms-1x_lvis-v1.py'
)
TABLE11 = (
    CONFIG_ROOT
    / 'lvis'
    / 'blendmask_r101-dcni3_fpn_ms-3x_coco_lvis-v0.5-cocofied.py'
)
MMDET_LVIS = osp.join(
    osp.dirname(mmdet.__file__),
    '.mim',
    'configs',
    'lvis',
    'mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py',
)


@pytest.fixture(scope='module')
def lvis():
    return Config.fromfile(str(LVIS_V1))


def test_lvis_v1_follows_mmdets_lvis_recipe(lvis):
    ref = Config.fromfile(MMDET_LVIS)
    # the same name but for the model
    assert (
        osp.basename(MMDET_LVIS).replace('mask-rcnn', 'blendmask')
        == LVIS_V1.name
    )
    # 1203 classes in both heads, mmdet's LVIS test_cfg
    assert lvis.model.bbox_head.num_classes == 1203
    assert lvis.model.mask_head.basis.num_classes == 1203
    assert ref.model.roi_head.bbox_head.num_classes == 1203
    assert (
        lvis.model.test_cfg.max_per_img
        == ref.model.test_cfg.rcnn['max_per_img']
        == 300
    )
    assert (
        lvis.model.test_cfg.score_thr
        == ref.model.test_cfg.rcnn['score_thr']
        == 1e-4
    )
    # repeat-factor sampling at 1e-3 over LVISV1Dataset, multi-scale
    ds, ref_ds = lvis.train_dataloader.dataset, ref.train_dataloader.dataset
    assert (
        (ds.type, ds.oversample_thr)
        == (ref_ds.type, ref_ds.oversample_thr)
        == ('ClassBalancedDataset', 1e-3)
    )
    assert ds.dataset.type == ref_ds.dataset.type == 'LVISV1Dataset'
    resize = [t for t in ds.dataset.pipeline if 'Resize' in t.type]
    ref_resize = [t for t in ref_ds.dataset.pipeline if 'Resize' in t.type]
    assert resize[0].type == ref_resize[0].type == 'RandomChoiceResize'
    assert resize[0].scales == ref_resize[0].scales
    assert lvis.val_dataloader.dataset.type == 'LVISV1Dataset'
    assert lvis.test_evaluator.type == 'CompatLVISMetric'
    assert lvis.test_evaluator.metric == ['bbox', 'segm']
    # mmdet's 1x (12 epochs) = our iteration-based 1x, never ending epochs
    assert lvis.train_cfg.max_iters == 90000
    assert lvis.train_dataloader.sampler.type == 'InfiniteSampler'


def test_lvis_v1_class_count_is_checked(lvis):
    """A semantic head left at 80 classes is refused when the model is
    built (the class count is set once, in the config's num_classes)."""
    model = strip_pretrained(to_plain(lvis.model))
    model['backbone']['depth'] = 18
    model['neck']['in_channels'] = [64, 128, 256, 512]
    model['mask_head']['basis']['num_classes'] = 80
    # under mmdet's scope whatever an earlier test left as the default
    with (
        DefaultScope.overwrite_default_scope('mmdet'),
        pytest.raises(ValueError, match='1203'),
    ):
        MODELS.build(ConfigDict(model))


def test_table11_differs_from_the_table8_model_in_the_test_set_only():
    t11 = Config.fromfile(str(TABLE11))
    t8 = Config.fromfile(
        str(CONFIG_ROOT / 'blendmask_r101-dcni3_fpn_ms-3x_coco.py')
    )
    changed = changed_keys(flat_config(t11), flat_config(t8))
    assert changed and all(
        k.split('.')[0]
        in (
            'val_dataloader',
            'test_dataloader',
            'val_evaluator',
            'test_evaluator',
        )
        for k in changed
    ), sorted(changed)
    base = Config.fromfile(
        str(CONFIG_ROOT / '_base_' / 'datasets' / 'lvis_cocofied_instance.py')
    )
    for key in (
        'val_dataloader',
        'test_dataloader',
        'val_evaluator',
        'test_evaluator',
    ):
        assert to_plain(t11[key]) == to_plain(base[key]), key
    assert t11.test_evaluator.type == 'CocoMetric'
    assert t11.test_evaluator.ann_file.endswith('lvis_v0.5_val_cocofied.json')
