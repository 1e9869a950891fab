"""Export of the in-scope configs' architectures, and clear refusals.

Each config keeps its structure (levels, shared tower, bottom module and
stride, R/K/M, top interpolation) with the widths of the tiny test model,
random (He-scaled, so that scores spread) weights and ``score_thr=0``
(100 detections per photo); export on one photo, parity on three others
of other input sizes.
"""
import os.path as osp
import warnings

import pytest
import torch
from matching import assert_same_detections, boundaries
from mmdet.apis import inference_detector, init_detector
from mmengine.config import Config

ort = pytest.importorskip('onnxruntime')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTOS = osp.join(REPO, 'demo', 'data', 'coco128-seg', 'images',
                  'train2017')
GN = dict(type='GN', num_groups=8, requires_grad=True)


def shrunk(config: str) -> Config:
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    m = cfg.model
    m.backbone.update(depth=18, base_channels=16, init_cfg=None,
                      frozen_stages=-1, norm_eval=False, dcn=None,
                      stage_with_dcn=(False, ) * 4)
    m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    m.bbox_head.update(in_channels=32, feat_channels=32, norm_cfg=GN)
    basis = m.mask_head.basis
    if basis.get('feat_source') == 'backbone':
        basis.update(in_channels=[32, 128], sem_in_channels=32)
    else:
        basis.update(in_channels=32)
    basis.update(channels=32, sem_channels=32, norm_cfg=GN)
    if basis.type == 'ProtoNetBasis':
        basis.update(refine_channels=32)
    m.test_cfg.score_thr = 0.0
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = (288, 192)
    return cfg


def build(cfg: Config):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_detector(cfg, None, device='cpu')
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d):
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            torch.nn.init.normal_(mod.weight, std=(2 / fan_in)**0.5)
    return model


@pytest.mark.parametrize('config', [
    'blendmask_r50_3x.py', 'blendmask_rt_r50_3x.py',
    'ablations/t5_top_nearest.py',
    'ablations/t1_assembler_r28_k16.py',  # no top layer
    'ablations/t3_k1.py',  # the blender returns probabilities
    'ablations/t4_c3c5.py',  # bases from the backbone
])
def test_config_exports_with_parity(config, tmp_path):
    from mmblend.deploy import OnnxDetector, Preprocessor, export_onnx
    from mmblend.deploy.preprocess import img_shape_tensor
    cfg = shrunk(config)
    model = build(cfg)
    inputs, sample = Preprocessor(cfg)(osp.join(PHOTOS, '000000000034.jpg'))
    out = str(tmp_path / 'model.onnx')
    report = export_onnx(model, inputs, img_shape_tensor(sample), out)
    assert report['num_dets'] == 100 and report['opset'] == 16
    det = OnnxDetector(out, cfg)
    for name in ('000000000073.jpg', '000000000064.jpg', '000000000138.jpg'):
        path = osp.join(PHOTOS, name)
        r = inference_detector(model, path).pred_instances
        o = det(path).pred_instances
        assert len(r) == 100
        stats = assert_same_detections(r, o, boundaries(r, o, 0.0, 100))
        print(config, name, stats)
        assert stats['matched'] >= 98, stats


def test_roipool_config_is_refused_naming_the_op():
    from mmblend.deploy import check_exportable
    model = build(shrunk('ablations/t6_r28_roipool.py'))
    with pytest.raises(ValueError, match=r"op RoIPool \(model\.mask_head\."
                       r"blender\.pooler='RoIPool'\) cannot be exported"):
        check_exportable(model)


def test_other_host_is_refused():
    from mmblend.deploy import check_exportable
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'mixing',
                 'blendmask-atss_r50_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    model = build(cfg)
    with pytest.raises(ValueError, match='supports BlendMaskHead configs'):
        check_exportable(model)


def test_export_cli_reports_refusal(tmp_path):
    import subprocess
    import sys
    cfg = shrunk('ablations/t6_r28_roipool.py')
    cfg_file = str(tmp_path / 'roipool.py')
    cfg.dump(cfg_file)
    model = build(cfg)
    ckpt = str(tmp_path / 'r.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'deployment',
                                  'export_onnx.py'), cfg_file, ckpt,
         '--out', str(tmp_path / 'x.onnx')],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'op RoIPool' in proc.stderr and 'blender.pooler' in proc.stderr
    assert not (tmp_path / 'x.onnx').exists()


def test_dcn_config_is_refused_naming_the_op():
    from mmblend.deploy import check_exportable
    cfg = Config.fromfile(osp.join(REPO, 'configs',
                                   'blendmask_r101_dcni3_3x.py'))
    cfg.model.backbone.init_cfg = None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = init_detector(cfg, None, device='cpu')
    with pytest.raises(ValueError, match=r'op ModulatedDeformConv2dPack '
                       r'\(backbone\..*model\.backbone\.dcn'):
        check_exportable(model)
