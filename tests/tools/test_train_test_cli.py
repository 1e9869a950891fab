"""tools/train.py then tools/test.py on the real coco128-seg data, end to
end through the command line (no mocks): a checkpoint is produced and the
COCO bbox and segm metrics are computed by pycocotools."""

import glob
import os.path as osp
import pickle

from cli_utils import TEST, TRAIN, explain, read_scalars, run_tool
from tiny_config import write_tiny_config

MAX_ITERS = 4


def test_train_then_test(tmp_path):
    cfg = write_tiny_config(
        str(tmp_path / 'cfg'), num_train=4, num_val=3, max_iters=MAX_ITERS
    )
    work_dir = str(tmp_path / 'work')

    proc = run_tool([TRAIN, cfg, '--work-dir', work_dir])
    assert proc.returncode == 0, explain(proc)
    (records,) = read_scalars(work_dir)
    assert [r['iter'] for r in records] == list(range(1, MAX_ITERS + 1))
    ckpt = osp.join(work_dir, f'iter_{MAX_ITERS}.pth')
    assert osp.isfile(ckpt), glob.glob(osp.join(work_dir, '*'))

    out_pkl = str(tmp_path / 'results.pkl')
    test_dir = str(tmp_path / 'test')
    proc = run_tool(
        [TEST, cfg, ckpt, '--work-dir', test_dir, '--out', out_pkl]
    )
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    assert 'coco/bbox_mAP' in out, explain(proc)
    assert 'coco/segm_mAP' in out, explain(proc)
    # evaluation really ran (pycocotools summary), on all 3 images
    assert 'Average Precision' in out
    with open(out_pkl, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 3
    assert all(
        'pred_instances' in r and 'masks' in r['pred_instances']
        for r in results
    )
