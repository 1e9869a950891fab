"""Export of the two-stage mixing configs (Mask R-CNN and Cascade Mask
R-CNN with the blender mask head): the small models of the RoI head tests
with random weights, every RoI kept (``rcnn.score_thr=0``), exported on one
photo and compared with PyTorch on two others (as the one-stage families in
test_export_configs.py)."""

import os.path as osp

import pytest
from module_utils import load_module

pytest.importorskip('onnxruntime')
export_configs = load_module(
    'tests/deploy/test_export_configs.py', '_export_configs'
)
roi_head_tests = load_module(
    'tests/models/roi_heads/test_blend_roi_head.py', '_blend_roi_head'
)

MIXING = osp.join(export_configs.REPO, 'configs', 'mixing')


@pytest.mark.parametrize(
    'config',
    [
        'mask-rcnn_r50_fpn_blender_1x_coco.py',
        'cascade-mask-rcnn_r50_fpn_blender_1x_coco.py',
    ],
)
def test_two_stage_exports_with_parity(config, tmp_path):
    cfg = roi_head_tests.small_cfg(osp.join(MIXING, config))
    rcnn = cfg.model.test_cfg.rcnn
    rcnn.score_thr = 0.0  # random weights: softmax scores near 1/81
    model = roi_head_tests.build(cfg).eval()
    model.cfg = cfg  # as init_detector sets it, for inference_detector
    export_configs.export_with_parity(cfg, model, tmp_path, rcnn.max_per_img)


def test_two_stage_graph_runs_the_rpn_on_the_input():
    """Proposals come from the traced image, not from the tracing photo:
    the graph's detections differ between two photos."""
    from mmblend.deploy import DetectorExport, Preprocessor, export_module
    from mmblend.deploy.preprocess import img_shape_tensor

    cfg = roi_head_tests.small_cfg(
        osp.join(MIXING, 'mask-rcnn_r50_fpn_blender_1x_coco.py')
    )
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    module = export_module(roi_head_tests.build(cfg).eval())
    assert isinstance(module, DetectorExport)
    outs = []
    for name in ('000000000034.jpg', '000000000073.jpg'):
        inputs, sample = Preprocessor(cfg)(
            osp.join(export_configs.PHOTOS, name)
        )
        outs.append(module(inputs, img_shape_tensor(sample))[0])
    assert outs[0].shape[1] == 4 and not (
        outs[0].shape == outs[1].shape and (outs[0] == outs[1]).all()
    )
