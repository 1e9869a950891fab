"""Smoke test of benchmarks/bench_onnx.py --quick: it runs and writes its
tables (no timing is asserted)."""
import json
import os.path as osp
import sys

import pytest

pytest.importorskip('onnxruntime')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_bench_onnx_quick(tmp_path):
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    import bench_onnx
    extra = bench_onnx.main(['--quick', '--out', str(tmp_path)])
    with open(tmp_path / 'bench_onnx_quick.json') as f:
        payload = json.load(f)
    tables = list(payload['tables'].values())
    assert len(tables) == 2
    for t in tables:
        assert len(t['rows']) == 6  # 2 configs x 3 photos
        assert all(r[3] > 0 and r[4] > 0 for r in t['rows'])
    assert set(extra['ratio_median']) == {
        f'{m} {k}' for m, _ in bench_onnx.CONFIGS for k in ('e2e', 'core')}
    assert (tmp_path / 'bench_onnx_quick.md').read_text().count('|') > 50
