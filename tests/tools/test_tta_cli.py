"""``tools/test.py CONFIG CKPT --tta`` (ours and mmdet's own) on real
coco128-seg photos: flip + two-scale views merged with their masks by
``DetTTAModelWithMasks``, COCO bbox and segm metrics computed, masks at the
original image size and inside their (un-flipped) boxes. (Panoptic
detectors are refused when the TTA model is built, before any data is
read: tests/models/test_time_augs.)"""

import os.path as osp
import pickle

import mmdet
import numpy as np
import pycocotools.mask as mask_util
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from cli_utils import TEST, explain, run_tool
from tiny_config import (
    DATA_ROOT,
    REPO_ROOT,
    write_subset_ann,
    write_tiny_config,
)

MMDET_TEST = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py')
NUM_IMAGES = 3
CONFIG = """
_base_ = ['{repo}/tests/configs/blendmask_tiny_coco128.py']
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(ann_file='{ann}'))
test_evaluator = dict(ann_file='{ann}')
test_cfg = dict(type='TestLoop')
train_dataloader = train_cfg = optim_wrapper = None  # test only
val_dataloader = val_evaluator = None
# the test scale and 1.25x it, each as is and flipped: 4 views
tta_scales = [(224, 160), (280, 200)]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='Resize', scale=s, keep_ratio=True)
              for s in tta_scales],
             [dict(type='RandomFlip', prob=1.),
              dict(type='RandomFlip', prob=0.)],
             [dict(type='PackDetInputs',
                   meta_keys=('img_id', 'img_path', 'ori_shape',
                              'img_shape', 'scale_factor', 'flip',
                              'flip_direction'))]])]
"""


def write_config_and_checkpoint(tmp_path):
    ann = write_subset_ann(
        osp.join(DATA_ROOT, 'instances_val.json'),
        str(tmp_path / 'ann_val.json'),
        NUM_IMAGES,
    )
    cfg_path = str(tmp_path / 'tta_config.py')
    with open(cfg_path, 'w') as f:
        f.write(CONFIG.format(repo=REPO_ROOT, ann=osp.abspath(ann)))
    cfg = Config.fromfile(cfg_path)
    assert cfg.tta_model.type == 'DetTTAModelWithMasks'  # from the runtime
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return cfg_path, ckpt, ann


def check_results(pkl, num_images):
    with open(pkl, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == num_images
    inside = []
    for r in results:
        pred = r['pred_instances']
        h, w = r['ori_shape']
        assert 0 < len(pred['scores']) <= 100
        masks = mask_util.decode(pred['masks'])  # [h, w, n]
        assert masks.shape == (h, w, len(pred['scores']))
        for box, mask in zip(pred['bboxes'].numpy(), masks.transpose(2, 0, 1)):
            if mask.any():
                ys, xs = np.nonzero(mask)
                inside.append(
                    xs.min() >= box[0] - 2
                    and xs.max() <= box[2] + 2
                    and ys.min() >= box[1] - 2
                    and ys.max() <= box[3] + 2
                )
        assert not r.get('flip'), 'merged sample should be an unflipped view'
    # masks pasted inside their boxes, for flipped views too
    assert len(inside) > 0 and all(inside)


def test_tta_with_ours_and_mmdets_test_py(tmp_path):
    """mmdet's test.py on a config with our tta_model / tta_pipeline; ours
    on a config with neither (its defaults: DetTTAModelWithMasks, flip)."""
    cfg, ckpt, _ = write_config_and_checkpoint(tmp_path)
    bare = write_tiny_config(
        str(tmp_path / 'bare'), num_train=1, num_val=NUM_IMAGES
    )
    assert 'tta_model' not in Config.fromfile(bare)
    for tool, config, name in (
        (MMDET_TEST, cfg, 'mmdet'),
        (TEST, bare, 'ours'),
    ):
        pkl = str(tmp_path / f'{name}.pkl')
        proc = run_tool(
            [
                tool,
                config,
                ckpt,
                '--tta',
                '--out',
                pkl,
                '--work-dir',
                str(tmp_path / name),
            ]
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, explain(proc)
        assert 'coco/segm_mAP' in out and 'coco/bbox_mAP' in out, explain(proc)
        assert 'Average Precision' in out
        check_results(pkl, NUM_IMAGES)
