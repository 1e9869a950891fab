"""It learns keypoints: 150 iterations on four real coco-mini-keypoints
training photos (one person each, 15-16 labelled keypoints) lift COCO
keypoint AP on those photos from 0 (untrained) far above 0.3, and the masks
and boxes still fit (tests/configs/blendmask_kp_tiny.py: BlendMaskHead,
17 x 4 keypoint bases at stride 8, one shared 4 x 7 x 7 attention, 28 x 28
heatmaps; 256 x 192 inputs).

Floors measured on a 2-core CPU (see the numbers in the assertions'
comments) and set with a wide margin."""

import copy
import os.path as osp

import pytest
from fit_utils import subset
from mmengine.config import Config
from mmengine.runner import Runner
from module_utils import load_module

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(REPO, '..', 'shared', 'data', 'coco-mini-keypoints')
KP_TINY = osp.join(REPO, 'tests', 'configs', 'blendmask_kp_tiny.py')
IMAGE_IDS = (535506, 84533, 234748, 30752)


def fit_config(ann_file, work_dir, iters):
    """The mask fit test's runner settings (loaders, AdamW, schedule, seed)
    with the keypoint model, data and metric."""
    cfg = load_module(
        'tests/integration/test_fit_real_data.py', '_fit_real_data'
    ).fit_config(ann_file, work_dir, iters)
    cfg.model = Config.fromfile(KP_TINY).model
    load = dict(
        type='LoadAnnotationsWithKeypoints',
        with_bbox=True,
        with_mask=True,
        poly2mask=False,
    )
    resize = dict(
        type='ResizeWithKeypoints', scale=(256, 192), keep_ratio=True
    )
    pipelines = dict(
        train_dataloader=[
            dict(type='LoadImageFromFile'),
            load,
            resize,
            dict(type='PackDetInputsWithKeypoints'),
        ],
        test_dataloader=[
            dict(type='LoadImageFromFile'),
            resize,
            load,
            dict(
                type='PackDetInputsWithKeypoints',
                meta_keys=(
                    'img_id',
                    'img_path',
                    'ori_shape',
                    'img_shape',
                    'scale_factor',
                ),
            ),
        ],
    )
    for key, pipeline in pipelines.items():
        cfg[key].dataset.update(
            type='CocoKeypointDataset',
            data_root=DATA,
            data_prefix=dict(img='images/train2017/'),
            pipeline=pipeline,
        )
    cfg.test_evaluator.update(
        type='CocoKeypointMetric', metric=['bbox', 'segm', 'keypoints']
    )
    return cfg


def aps(metrics):
    return {
        k: metrics.get(f'coco/{k}_mAP', 0.0)
        for k in ('keypoints', 'segm', 'bbox')
    }


@pytest.mark.skipif(
    not osp.isdir(DATA), reason='shared coco-mini-keypoints absent'
)
def test_training_on_real_photos_lifts_keypoint_ap(tmp_path):
    ann = subset(
        tmp_path, IMAGE_IDS, osp.join(DATA, 'person_keypoints_train.json')
    )
    cfg = fit_config(ann, str(tmp_path / 'work'), iters=150)
    untrained = copy.deepcopy(cfg)
    # untrained: keep detections so that AP is defined (COCO's keypoint AP
    # reads 20 per image)
    untrained.model.test_cfg.update(score_thr=0.0, max_per_img=20)
    untrained.work_dir = str(tmp_path / 'untrained')
    before = aps(Runner.from_cfg(untrained).test())
    runner = Runner.from_cfg(cfg)
    runner.train()
    after = aps(runner.test())
    print(f'untrained {before}, trained {after}')
    assert before['keypoints'] < 0.02
    assert after['keypoints'] >= 0.3, after  # measured 0.74-0.81 (before 0)
    assert after['segm'] > 0.5, after  # measured 0.81-0.90
    assert after['bbox'] > 0.5, after  # measured 0.90-0.97
