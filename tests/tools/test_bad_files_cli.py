"""tools/train.py and tools/test.py on a small real dataset with a
truncated JPEG, a 0-byte file, an HTML page saved as .jpg, a resized copy
and an EXIF-rotated photo under their real names
(tests/datasets/bad_files.py): training runs all its iterations with finite
losses and names every bad file; testing gives the bad images empty
predictions (their objects count as missed) and reports data/bad_images
(fail-fast, bad_image='error': tests/datasets/transforms/test_loading.py)."""

import math
import os.path as osp
import pickle
import sys

from mmengine.config import Config

from cli_utils import TEST, TRAIN, explain, read_scalars, run_tool
from tiny_config import tiny_config_dict

sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'datasets')
)
from bad_files import make_dataset  # noqa: E402

ITERS = 5  # x batch 2 = every one of the 10 images drawn at least once


def _config(tmp_path, data):
    cfg = tiny_config_dict(
        data['ann_file'],
        data['ann_file'],
        max_iters=ITERS,
        batch_size=2,
        seed=3,
    )
    for loader in (cfg['train_dataloader'], cfg['test_dataloader']):
        loader['dataset'].update(
            type='CocoInstanceDataset',
            data_root='',
            data_prefix=dict(img=data['img_dir'] + '/'),
        )
    path = str(tmp_path / 'bad_files_config.py')
    Config(cfg).dump(path)
    return path


def test_train_then_test_with_bad_files(tmp_path):
    data = make_dataset(tmp_path / 'data', num_images=10)
    assert len(data['bad']) == 5
    cfg = _config(tmp_path, data)
    work = str(tmp_path / 'work')
    proc = run_tool([TRAIN, cfg, '--work-dir', work])
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    ids = {i['file_name']: i['id'] for i in data['images']}
    for name, defect in data['bad'].items():
        path = osp.join(data['img_dir'], name)
        assert f"bad image '{path}' (image id {ids[name]})" in out, defect
    assert 'EXIF-rotated' in out and 'truncated JPEG' in out
    assert 'HTML' in out and 'empty (0 bytes)' in out
    assert 'size mismatch' in out
    (records,) = read_scalars(work)
    assert [r['iter'] for r in records] == list(range(1, ITERS + 1))
    assert all(math.isfinite(r['loss']) for r in records)

    preds = str(tmp_path / 'preds.pkl')
    proc = run_tool(
        [
            TEST,
            cfg,
            osp.join(work, f'iter_{ITERS}.pth'),
            '--work-dir',
            str(tmp_path / 'test'),
            '--out',
            preds,
        ]
    )
    assert proc.returncode == 0, explain(proc)
    assert 'data/bad_images: 5' in proc.stdout + proc.stderr, explain(proc)
    with open(preds, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 10
    bad_ids = {ids[n] for n in data['bad']}
    for r in results:
        n = len(r['pred_instances']['bboxes'])
        if r['img_id'] in bad_ids:
            assert n == 0, r['img_path']
        else:
            assert n > 0, r['img_path']  # score_thr=0: the model's guesses
