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
    for t in p['tables'].values():
        assert len(t['rows']) == len(CONFIGS) * len(PHOTOS)
    assert set(p['samples']) == {
        f'{kind}/{engine}/{m}'
        for kind in ('e2e', 'core')
        for engine in ('torch', 'onnx', 'openvino')
        for m in CONFIGS
    }
