"""Smoke tests of benchmarks/bench_keypoints.py (``--quick``): each part
runs and writes well-formed results (and the picture); the design table's
top-layer sizes are the arithmetic of docs/keypoints.md. No timing
assertions."""
import json
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'benchmarks')
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)
DATA = osp.join(ROOT, '..', 'shared', 'data', 'coco-mini-keypoints')


def load(out, name):
    with open(osp.join(out, f'{name}.json')) as f:
        payload = json.load(f)
    text = open(osp.join(out, f'{name}.md')).read()
    for title, table in payload['tables'].items():
        assert f'## {title}' in text
        assert table['rows'] and all(
            len(r) == len(table['columns']) for r in table['rows'])
    return payload


def test_cost_quick(tmp_path):
    import bench_keypoints
    bench_keypoints.main(['--part', 'cost', '--quick', '--out',
                          str(tmp_path)])
    p = load(str(tmp_path), 'bench_keypoints_cost_quick')
    designs = p['designs']
    channels = [d['attn_channels'] for d in designs.values()]
    assert channels == [17 * 4 * 14 * 14, 17 * 4 * 7 * 7, 4 * 14 * 14,
                        4 * 7 * 7, 17 * 4 * 2 * 2]
    top = [d['top_params_m'] for d in designs.values()]
    assert top[0] == pytest.approx(13328 * (256 * 9 + 1) / 1e6)  # 30.7M
    assert top[2] == pytest.approx(784 * (256 * 9 + 1) / 1e6)  # 1.8M
    for branch in ('mask', 'keypoint'):
        assert p['branches'][branch]['gflops'] > 0


def test_latency_quick(tmp_path):
    import bench_keypoints
    med = bench_keypoints.main(['--part', 'latency', '--quick', '--out',
                                str(tmp_path)])
    assert set(med) == {'mask', 'keypoint'} and min(med.values()) > 0
    load(str(tmp_path), 'bench_keypoints_latency_quick')


@pytest.mark.skipif(not osp.isdir(DATA),
                    reason='shared coco-mini-keypoints absent')
def test_ap_quick(tmp_path):
    import bench_keypoints
    splits = bench_keypoints.main([
        '--part', 'ap', '--quick', '--out', str(tmp_path), '--work-dir',
        str(tmp_path / 'work')])
    assert set(splits) == {'train', 'val'}
    for metrics in splits.values():
        assert 0 <= metrics['keypoints_mAP'] <= 1
    p = load(str(tmp_path), 'bench_keypoints_ap_quick')
    assert p['iters'] == 2 and p['wall_s'] > 0
    # the picture of the trained model (two photos side by side)
    path = bench_keypoints.main([
        '--part', 'picture', '--quick', '--iters', '2', '--work-dir',
        str(tmp_path / 'work'), '--picture', str(tmp_path / 'kp.jpg')])
    import mmcv
    img = mmcv.imread(path)
    assert img.shape[0] == 360 and img.shape[1] > 360
