"""benchmarks/suites/onnx.py --quick: onnxruntime, OpenVINO and PyTorch
timed on the same photos, end to end and the network alone (in a child
process: OpenVINO stays out of the test process, tests/openvino_utils.py)."""

import openvino_utils
import pytest

pytest.importorskip('onnxruntime')
openvino_utils.skip_if_unavailable()


def test_onnx_quick(run_quick):
    from suites.onnx import CONFIGS, PHOTOS

    p = run_quick('onnx', isolated=True)
    *timed, ops = p['tables'].values()
    for t in timed:
        assert len(t['rows']) == len(CONFIGS) * len(PHOTOS)
    timings = {k for k in p['samples'] if not k.startswith('ops/')}
    assert timings == {
        f'{kind}/{engine}/{m}'
        for kind in ('e2e', 'core')
        for engine in ('torch', 'onnx', 'openvino')
        for m in CONFIGS
    }
    # onnxruntime's profile: each model's operator shares add up to 1
    assert len(ops['rows']) == len(CONFIGS)
    for m in CONFIGS:
        shares = {
            k.split('/')[-1]: v
            for k, (v,) in p['samples'].items()
            if k.startswith(f'ops/{m}/')
        }
        assert 'Conv' in shares
        assert abs(sum(shares.values()) - 1) < 1e-6
