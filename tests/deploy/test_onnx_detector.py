"""GraphRunner on hand-made graphs with the exported graphs' inputs: the
inputs are fed by name with their dtypes, by both runtimes, and graphs or
backends it cannot serve are refused; mask_test_cfg for both detector kinds
(OnnxDetector on an exported model: tests/deploy/test_onnx_parity.py)."""

import numpy as np
import openvino_utils
import pytest
import torch
from mmengine.config import ConfigDict

from mmblend.deploy.onnx_detector import BACKENDS, GraphRunner, mask_test_cfg

onnx = pytest.importorskip('onnx')
helper, TensorProto = onnx.helper, onnx.TensorProto


def graph_file(tmp_path, inputs=('image', 'img_shape')):
    """Outputs: the image doubled, and img_shape + 1 (when an input)."""
    specs = dict(
        image=helper.make_tensor_value_info(
            'image', TensorProto.FLOAT, [1, 3, 'h', 'w']
        ),
        img_shape=helper.make_tensor_value_info(
            'img_shape', TensorProto.INT64, [2]
        ),
        x=helper.make_tensor_value_info('x', TensorProto.FLOAT, [1]),
    )
    nodes = [helper.make_node('Add', [inputs[0], inputs[0]], ['doubled'])]
    outputs = [
        helper.make_tensor_value_info(
            'doubled', specs[inputs[0]].type.tensor_type.elem_type, None
        )
    ]
    if 'img_shape' in inputs:
        one = helper.make_tensor('one', TensorProto.INT64, [1], [1])
        nodes.append(helper.make_node('Add', ['img_shape', 'one'], ['next']))
        outputs.append(
            helper.make_tensor_value_info('next', TensorProto.INT64, [2])
        )
        initializers = [one]
    else:
        initializers = []
    graph = helper.make_graph(
        nodes, 'g', [specs[n] for n in inputs], outputs, initializers
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', 16)]
    )
    model.ir_version = 8
    path = str(tmp_path / f"g_{'_'.join(inputs)}.onnx")
    onnx.save(model, path)
    return path


def run_graphs(path_with_shape, path_image_only, backend, image):
    """Both graphs of graph_file run by GraphRunner on ``image`` with
    img_shape (4, 5): ``(doubled, next), (doubled,)``."""
    shape = torch.tensor([4, 5])
    with_shape = GraphRunner(path_with_shape, backend, num_threads=1)
    assert with_shape.input_names == ['image', 'img_shape']
    return with_shape.run(image, shape), GraphRunner(
        path_image_only, backend
    ).run(image, shape)


@pytest.mark.parametrize('backend', BACKENDS)
def test_runs_the_graph_on_both_runtimes(tmp_path, backend):
    image = torch.rand(1, 3, 4, 6)
    # a graph without img_shape (boxes not clipped) is fed the image only
    args = (graph_file(tmp_path), graph_file(tmp_path, ('image',)), backend)
    if backend == 'openvino':
        openvino_utils.skip_if_unavailable()
        (doubled, nxt), (doubled2,) = openvino_utils.call(
            run_graphs, *args, image
        )
    else:
        pytest.importorskip(backend)
        (doubled, nxt), (doubled2,) = run_graphs(*args, image)
    np.testing.assert_allclose(doubled, 2 * image.numpy())
    assert nxt.tolist() == [5, 6]
    np.testing.assert_allclose(doubled2, 2 * image.numpy())


def test_refuses_other_graphs_and_backends(tmp_path):
    pytest.importorskip('onnxruntime')
    with pytest.raises(ValueError, match='not \\(image, img_shape\\)'):
        GraphRunner(graph_file(tmp_path, ('x',)))
    with pytest.raises(ValueError, match='backend must be one of'):
        GraphRunner(graph_file(tmp_path), backend='tensorrt')


def test_mask_test_cfg():
    one_stage = ConfigDict(test_cfg=dict(mask_thr=0.4, score_thr=0.1))
    assert mask_test_cfg(one_stage) == one_stage.test_cfg
    two_stage = ConfigDict(
        test_cfg=dict(rpn=dict(), rcnn=dict(mask_thr_binary=0.3))
    )
    assert mask_test_cfg(two_stage) == dict(mask_thr=0.3)
    assert mask_test_cfg(ConfigDict()) == {}
