"""configs/keypoints/blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py
through
mmdet's own ``tools/train.py`` and ``tools/test.py`` (the copies shipped in
``mmdet/.mim/tools``), its datasets pointed at another COCO-format person
keypoints file (three real coco-mini-keypoints photos) with
``--cfg-options``: training runs, testing prints keypoint AP beside box and
mask AP, and ``--show-dir`` draws the pictures."""

import glob
import os.path as osp
import re

import mmdet
import pytest
from fit_utils import subset

from cli_utils import explain, read_scalars, run_tool
from tiny_config import REPO_ROOT

MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')
CFG = osp.join(
    REPO_ROOT,
    'configs',
    'keypoints',
    'blendmask-kp-light_r18_fpn_1xb8-1200iter_coco-mini-keypoints.py',
)
DATA = osp.join(REPO_ROOT, '..', 'shared', 'data', 'coco-mini-keypoints')
IDS = (535506, 84533, 442450)
MAX_ITERS = 2


@pytest.mark.skipif(
    not osp.isdir(DATA), reason='shared coco-mini-keypoints absent'
)
def test_mmdet_train_then_test_on_another_json(tmp_path):
    ann = subset(tmp_path, IDS, osp.join(DATA, 'person_keypoints_train.json'))
    options = [
        f'{loader}.dataset.{key}={value}'
        for loader in ('train_dataloader', 'test_dataloader')
        for key, value in (
            ('data_root', DATA + '/'),
            ('ann_file', ann),
            ('data_prefix.img', 'images/train2017/'),
        )
    ]
    options += [
        f'test_evaluator.ann_file={ann}',
        f'train_cfg.max_iters={MAX_ITERS}',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
    ]
    work_dir = str(tmp_path / 'work')
    proc = run_tool(
        [
            osp.join(MMDET_TOOLS, 'train.py'),
            CFG,
            '--work-dir',
            work_dir,
            '--cfg-options',
        ]
        + options
    )
    assert proc.returncode == 0, explain(proc)
    (records,) = read_scalars(work_dir)
    assert [r['iter'] for r in records] == list(range(1, MAX_ITERS + 1))
    assert all(
        'loss_keypoint' in r and r['loss_keypoint'] > 0 for r in records
    )
    ckpt = osp.join(work_dir, f'iter_{MAX_ITERS}.pth')
    assert osp.isfile(ckpt), glob.glob(osp.join(work_dir, '*'))

    show_dir = 'show'
    # after 2 iterations: keep every detection so that AP is defined
    proc = run_tool(
        [
            osp.join(MMDET_TOOLS, 'test.py'),
            CFG,
            ckpt,
            '--work-dir',
            str(tmp_path / 'test'),
            '--show-dir',
            show_dir,
            '--cfg-options',
        ]
        + options
        + ['model.test_cfg.score_thr=0']
    )
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    for key in (
        'coco/bbox_mAP',
        'coco/segm_mAP',
        'coco/keypoints_mAP',
        'coco/keypoints_mAP_50',
    ):
        assert key in out, explain(proc)
    found = re.findall(r'coco/keypoints_mAP: (-?[\d.]+)', out)
    assert found and 0.0 <= float(found[-1]) <= 1.0
    assert 'Evaluate annotation type *keypoints*' in out  # pycocotools ran
    pictures = glob.glob(
        osp.join(str(tmp_path / 'test'), '*', show_dir, '*.jpg')
    )
    assert len(pictures) == len(IDS), pictures
