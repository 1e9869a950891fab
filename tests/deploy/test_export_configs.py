"""Export of every exportable config family (run by onnxruntime and, where
installed, OpenVINO), and clear refusals.

Each config keeps its structure (host head, levels, shared tower, bottom
module and stride, R/K/M, top interpolation, clipping order) with the
widths of the tiny test model, random (He-scaled, so that scores spread)
weights and ``score_thr=0`` (100 detections per photo); export on one
photo, parity on two others of other input sizes.
"""

import os.path as osp
import warnings

import mmdet
import openvino_utils
import pytest
import torch
from mmdet.apis import inference_detector, init_detector
from mmengine.config import Config

from mmblend.deploy.matching import cut_intervals, match_detections

ort = pytest.importorskip('onnxruntime')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTOS = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'images', 'train2017')
GN = dict(type='GN', num_groups=8, requires_grad=True)


def shrunk(config: str) -> Config:
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    m = cfg.model
    m.backbone.update(
        depth=18,
        base_channels=16,
        init_cfg=None,
        frozen_stages=-1,
        norm_eval=False,
        dcn=None,
        stage_with_dcn=(False,) * 4,
    )
    m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    m.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=2)
    if m.bbox_head.get('norm_cfg') is not None:
        m.bbox_head.norm_cfg = GN
    basis = m.mask_head.basis
    if basis.get('feat_source') == 'backbone':
        basis.update(in_channels=[32, 128], sem_in_channels=32)
    else:
        basis.update(in_channels=32)
    basis.update(channels=32, sem_channels=32, norm_cfg=GN)
    if basis.type == 'ProtoNetBasis':
        basis.update(refine_channels=32)
    m.mask_head.blender.update(bottom_resolution=28, attn_size=7)
    m.test_cfg.score_thr = 0.0
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = (288, 192)
    return cfg


def build(cfg: Config):
    """He-scaled random weights (scores spread, boxes large); an mmdet
    host's head keeps its own initialisation (He-scaled anchor heads
    saturate every score at 1.0)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_detector(cfg, None, device='cpu')
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d):
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            torch.nn.init.normal_(mod.weight, std=(2 / fan_in) ** 0.5)
    if type(model.bbox_head).__name__ != 'BlendMaskHead':
        model.bbox_head.init_weights()
    return model


def export_with_parity(cfg: Config, model, tmp_path, max_per_img: int):
    """Export ``model`` (random weights, ``max_per_img`` detections per
    photo; 0: the host has no such cut, as YOLOX, and detects >= 5) on one
    photo with export_onnx's verification, then compare
    inference_detector with OnnxDetector (onnxruntime and, where installed,
    OpenVINO in a child process: tests/openvino_utils.py) on two photos of
    other sizes, detections matched by label and box IoU. Returns the
    onnxruntime detector and the last photo."""
    from mmblend.deploy import OnnxDetector, Preprocessor, export_onnx
    from mmblend.deploy.preprocess import img_shape_tensor

    inputs, sample = Preprocessor(cfg)(osp.join(PHOTOS, '000000000034.jpg'))
    out = str(tmp_path / 'model.onnx')
    report = export_onnx(model, inputs, img_shape_tensor(sample), out)
    assert report['opset'] == 16 and report['num_dets'] >= 5
    assert report['num_dets'] == (max_per_img or report['num_dets'])
    det = OnnxDetector(out, cfg)
    names = ('000000000073.jpg', '000000000138.jpg')
    paths = [osp.join(PHOTOS, name) for name in names]
    runs = [('onnxruntime', [det(p).pred_instances for p in paths])]
    if openvino_utils.unavailable() is None:
        cfg_file = str(tmp_path / 'model_cfg.py')
        cfg.dump(cfg_file)
        runs.append(('openvino', openvino_utils.detect(out, cfg_file, paths)))
    refs = [inference_detector(model, p).pred_instances for p in paths]
    # random weights put many mask probabilities near 0.5, where float error
    # flips pixels: the box-relative probabilities are compared at 1e-3 by
    # export_onnx's verification, the pasted masks at IoU 0.95
    for backend, outs in runs:
        for path, r, o in zip(paths, refs, outs):
            match = match_detections(
                r,
                o,
                score_intervals=cut_intervals(r, o, max_per_img),
                mask_tol=0.05,
                names=('PyTorch', backend),
            )
            print(backend, path, len(r), len(o), match.summary())
            assert match.ok, '\n'.join(match.problems)
            assert len(match.pairs) >= len(r) - 2, match.summary()
    return det, path


ROIPOOL = 'ablations/blendmask_r50_fpn_p3p5-28-4-7-bilinear-roipool_1x_coco.py'


@pytest.mark.parametrize(
    'config',
    [
        'blendmask_r50_3x.py',
        'blendmask-rt_r50_fpn_ms-550-3x_coco.py',
        'ablations/blendmask_r50_fpn_p3p5-56-4-7_1x_coco.py',
        # no top layer
        'ablations/blendmask_r50_fpn_c3c5-28-16-assembler_1x_coco.py',
        'ablations/blendmask_r50_fpn_c3c5-56-1-7_1x_coco.py',  # one basis
        # bases from the backbone
        'ablations/blendmask_r50_fpn_c3c5-56-4-7_1x_coco.py',
        # AdelaiDet's clipping order
        'adelaidet_zoo/blendmask_r50-caffe_fpn_ms-3x_coco.py',
        'mixing/blendmask-atss_r50_fpn_1x_coco.py',
        'mixing/blendmask-gfl_r50_fpn_1x_coco.py',
        'mixing/blendmask-retinanet_r50_fpn_1x_coco.py',
        'mixing/blendmask-fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    ],
)
def test_config_exports_with_parity(config, tmp_path):
    cfg = shrunk(config)
    model = build(cfg)
    det, path = export_with_parity(
        cfg, model, tmp_path, cfg.model.test_cfg.max_per_img
    )
    if cfg.model.test_cfg.get('clip_after_mask'):
        from mmblend.deploy import Preprocessor
        from mmblend.deploy.preprocess import img_shape_tensor

        # the graph kept boxes unclipped through NMS and the blender
        boxes = det.run(
            *Preprocessor(cfg)(path)[:1],
            img_shape_tensor(det.preprocess(path)[1]),
        )[0]
        h, w = det.preprocess(path)[1].metainfo['img_shape']
        assert (
            (boxes[:, :2] < 0).any()
            or (boxes[:, 2] > w).any()
            or (boxes[:, 3] > h).any()
        )


def test_roipool_config_is_refused_naming_the_op():
    from mmblend.deploy import check_exportable

    model = build(shrunk(ROIPOOL))
    with pytest.raises(
        ValueError,
        match=r"op RoIPool \(model\.mask_head\."
        r"blender\.pooler='RoIPool'\) cannot be exported",
    ):
        check_exportable(model)


def test_tood_is_refused_naming_its_op():
    from mmblend.deploy import check_exportable

    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs', 'mixing', 'blendmask-atss_r50_fpn_1x_coco.py'
        )
    )
    cfg.model.backbone.init_cfg = None
    tood = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__),
            '.mim',
            'configs',
            'tood',
            'tood_r50_fpn_1x_coco.py',
        )
    ).model.bbox_head
    cfg.model.bbox_head = dict(tood, type='BlendTOODHead')
    cfg.model.train_cfg = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__),
            '.mim',
            'configs',
            'tood',
            'tood_r50_fpn_1x_coco.py',
        )
    ).model.train_cfg
    model = build(cfg)
    with pytest.raises(ValueError, match=r'op deform_conv2d \(TOODHead'):
        check_exportable(model)


def run_export_cli(tmp_path, config: str):
    """``tools/deployment/export_onnx.py`` on a shrunk ``config`` with a
    checkpoint of its random weights: the process and the output path."""
    import subprocess
    import sys

    cfg = shrunk(config)
    cfg_file = str(tmp_path / 'config.py')
    cfg.dump(cfg_file)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=build(cfg).state_dict()), ckpt)
    out = tmp_path / 'model.onnx'
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'deployment', 'export_onnx.py'),
            cfg_file,
            ckpt,
            '--out',
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc, out


def test_export_cli_on_a_mixing_config(tmp_path):
    """BlendMask on mmdet's ATSS (configs/mixing/, written on mmdet's own
    config) exports through the CLI, verified."""
    proc, out = run_export_cli(
        tmp_path, 'mixing/blendmask-atss_r50_fpn_1x_coco.py'
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'wrote' in proc.stdout and 'matched=' in proc.stdout, proc.stdout
    assert out.exists()


def test_export_cli_reports_refusal(tmp_path):
    proc, out = run_export_cli(tmp_path, ROIPOOL)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'op RoIPool' in proc.stderr and 'blender.pooler' in proc.stderr
    assert not out.exists()


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='TensorRT needs a CUDA GPU; none on this machine (the device tool '
    'lends one to some tasks only)',
)
def test_tensorrt_builds_an_engine_from_the_graph(tmp_path):
    """Where a GPU and TensorRT exist: TensorRT's ONNX parser builds an
    engine from an exported graph."""
    trt = pytest.importorskip('tensorrt')
    proc, out = run_export_cli(tmp_path, 'blendmask_r50_3x.py')
    assert proc.returncode == 0, proc.stderr[-3000:]
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(out.read_bytes()), [
        str(parser.get_error(i)) for i in range(parser.num_errors)
    ]


def test_dcn_config_is_refused_naming_the_op():
    from mmblend.deploy import check_exportable

    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'blendmask_r101-dcni3_fpn_ms-3x_coco.py')
    )
    cfg.model.backbone.init_cfg = None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_detector(cfg, None, device='cpu')
    with pytest.raises(
        ValueError,
        match=r'op ModulatedDeformConv2dPack '
        r'\(backbone\..*model\.backbone\.dcn',
    ):
        check_exportable(model)


def export_args(cfg, model):
    from mmblend.deploy import Preprocessor
    from mmblend.deploy.preprocess import img_shape_tensor

    inputs, sample = Preprocessor(cfg)(osp.join(PHOTOS, '000000000034.jpg'))
    return model, inputs, img_shape_tensor(sample)


def test_export_verification_tolerates_exact_ties(tmp_path):
    """Every location and class scores exactly the same (the classifier and
    centerness convs predict their zero bias only), so the top-k, NMS and
    ``max_per_img`` choose among exact ties, which onnxruntime and PyTorch
    may break differently: the export is still verified, on the tracing
    input and its two variants."""
    from mmblend.deploy import DetectorExport, export_onnx

    cfg = shrunk('blendmask_r50_3x.py')
    model = build(cfg)
    head = model.bbox_head
    for conv in (head.conv_cls, head.conv_centerness):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    args = export_args(cfg, model)
    with torch.no_grad():
        scores = DetectorExport(model).eval()(*args[1:])[1]
    assert len(scores) == 100 and (scores == scores[0]).all()
    report = export_onnx(*args, str(tmp_path / 'm.onnx'))
    print(report)  # ties broken differently count as swaps or cuts


def test_export_verification_fails_on_a_wrong_graph(tmp_path):
    """A graph whose NMS threshold was changed after the export disagrees
    with PyTorch on the tracing image: verification names the
    detections."""
    import onnx
    from onnx import numpy_helper

    from mmblend.deploy import DetectorExport, export_onnx
    from mmblend.deploy.export import verify_export

    cfg = shrunk('blendmask_r50_3x.py')
    model, inputs, img_shape = export_args(cfg, build(cfg))
    path = str(tmp_path / 'm.onnx')
    export_onnx(model, inputs, img_shape, path)
    graph = onnx.load(path)
    nms = next(n for n in graph.graph.node if n.op_type == 'NonMaxSuppression')
    const = next(n for n in graph.graph.node if n.output[0] == nms.input[3])
    const.attribute[0].t.CopyFrom(
        numpy_helper.from_array(
            numpy_helper.to_array(const.attribute[0].t) * 0 + 0.05
        )
    )
    onnx.save(graph, path)
    with pytest.raises(
        RuntimeError,
        match='disagree on the tracing input.*'
        r'\n.*detection \d+ \(label',
    ):
        verify_export(path, DetectorExport(model), inputs, img_shape)


def test_export_verification_fails_on_a_frozen_nms(tmp_path, monkeypatch):
    """An NMS traced as a constant (the indices kept on the tracing image)
    reproduces the tracing image but not the flipped one (wrong detections,
    or indices out of bounds)."""
    from mmcv.ops import nms

    from mmblend.deploy import export_onnx, rewrite

    def frozen_nms(boxes, scores, iou_threshold):
        keep = nms(boxes, scores, iou_threshold)[1]
        return torch.tensor(keep.tolist(), dtype=torch.long)

    monkeypatch.setattr(rewrite, 'nms_keep', frozen_nms)
    cfg = shrunk('blendmask_r50_3x.py')
    with pytest.raises(RuntimeError, match='on the flipped input'):
        export_onnx(*export_args(cfg, build(cfg)), str(tmp_path / 'm.onnx'))
