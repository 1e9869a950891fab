"""tools/model_converters/adelaidet2mmblend.py.

The AdelaiDet state dicts are built from ``fixtures/adelaidet_keys.json``:
the keys and shapes that AdelaiDet's and detectron2's module definitions
create for each model zoo yaml, produced by
``fixtures/derive_adelaidet_keys.py`` from their source (not from the
converter's mapping). Numerical equivalence: test_adelaidet_equivalence.py.
"""

import json
import os.path as osp
import pickle

import pytest
import torch
from module_utils import load_module

from cli_utils import TEST, explain, run_tool
from tiny_config import model_from_config, write_tiny_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURE = osp.join(
    osp.dirname(osp.abspath(__file__)), 'fixtures', 'adelaidet_keys.json'
)
ZOO = osp.join(REPO, 'configs', 'adelaidet_zoo')
CONFIGS = {
    'R_50_3x': 'blendmask_r50-caffe_fpn_ms-3x_coco.py',
    '550_R_50_3x': 'blendmask_r50-caffe_fpn_ms-550-3x_coco.py',
    'R_101_dcni3_5x': 'blendmask_r101-caffe-dcni3_fpn_ms-crop-5x_coco.py',
    'Panoptic/R_50_3x': 'blendmask-panoptic_r50-caffe_fpn_ms-3x_coco.py',
}


def load_tool():
    return load_module(
        'tools/model_converters/adelaidet2mmblend.py', 'adelaidet2mmblend'
    )


tool = load_tool()


def fixture_shapes(name):
    with open(FIXTURE) as f:
        return json.load(f)['models'][name]


def adelaidet_state(name, seed=0):
    """Random tensors with exactly the AdelaiDet model's keys and shapes."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in fixture_shapes(name).items():
        if k.endswith('num_batches_tracked'):
            sd[k] = torch.tensor(123)
        elif k.endswith('running_var'):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) == 4:  # conv weights: activations stay O(1)
            fan_in = shape[1] * shape[2] * shape[3]
            sd[k] = torch.randn(shape, generator=g) / fan_in**0.5
        else:
            sd[k] = torch.randn(shape, generator=g)
    return sd


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_zoo_checkpoint_converts_and_loads_strictly(name, tmp_path):
    src = adelaidet_state(name)
    path = str(tmp_path / 'model_final.pth')
    torch.save(src, path)  # the flat layout of AdelaiDet's releases
    out = str(tmp_path / 'out.pth')
    # the config is picked from the keys ...
    ckpt = tool.convert_file(path, out, verbose=False)
    assert ckpt['meta']['config'] == f'configs/adelaidet_zoo/{CONFIGS[name]}'
    # ... and loads strictly into a fresh model of that config
    model, classes = tool.build_target(osp.join(ZOO, CONFIGS[name]))
    saved = torch.load(out, map_location='cpu', weights_only=True)
    result = model.load_state_dict(saved['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert saved['meta']['dataset_meta']['classes'] == classes
    panoptic = name.startswith('Panoptic/')
    assert len(classes) == (133 if panoptic else 80)
    assert classes[0] == 'person'
    sd = saved['state_dict']

    # every AdelaiDet tensor went somewhere, and only the documented
    # buffers were filled
    produced = {k for k, v in sd.items()}
    filled = {
        k
        for k in produced
        if k.endswith('num_batches_tracked') and int(sd[k]) == 0
    }
    filled |= {k for k in produced if k.startswith('bbox_head.scales.')}
    assert len(produced) - len(filled) == len(src)
    assert all(
        float(sd[k]) == 1.0
        for k in produced
        if k.startswith('bbox_head.scales.')
    )
    # per-level scales: one per FCOS level (AdelaiDet: USE_SCALE False)
    assert len(
        [k for k in produced if k.startswith('bbox_head.scales.')]
    ) == len(model.bbox_head.strides)
    # BN buffers of AdelaiDet's SyncBN/BN keep their counts
    assert int(sd['mask_head.basis.refine.0.0.bn.num_batches_tracked']) == 123

    # semantic logits: AdelaiDet row 0 is background (its thing-semantic
    # targets use 0 for background and 1..80 for the classes)
    w = src['basis_module.seg_head.6.weight']
    b = src['basis_module.seg_head.6.bias']
    assert torch.equal(sd['mask_head.basis.sem_logits.weight'][80], w[0])
    assert torch.equal(sd['mask_head.basis.sem_logits.weight'][:80], w[1:])
    assert torch.equal(sd['mask_head.basis.sem_logits.bias'][80], b[0])
    assert torch.equal(sd['mask_head.basis.sem_logits.bias'][:80], b[1:])
    # the FCOS outputs (identity of the three 1-layer outputs by shape)
    assert torch.equal(
        sd['bbox_head.conv_cls.weight'],
        src['proposal_generator.fcos_head.cls_logits.weight'],
    )
    assert torch.equal(
        sd['bbox_head.conv_centerness.bias'],
        src['proposal_generator.fcos_head.ctrness.bias'],
    )
    if panoptic:
        meta = saved['meta']['dataset_meta']
        assert len(meta['thing_classes']) == 80
        assert len(meta['stuff_classes']) == 53
        # detectron2's panoptic semantic labels (prepare_panoptic_fpn.py):
        # 0 = all things, 1..53 = stuff; mmdet: stuff 0..52, things 53
        w = src['panoptic_module.predictor.weight']
        got = sd['semantic_head.conv_logits.weight']
        assert torch.equal(got[53], w[0]) and torch.equal(got[:53], w[1:])
        # P2 is FPN index 0 there, P3 index 1
        assert torch.equal(
            sd['neck.lateral_convs.0.conv.weight'],
            src['backbone.fpn_lateral2.weight'],
        )
        assert torch.equal(
            sd['neck.fpn_convs.5.conv.bias'], src['backbone.top_block.p7.bias']
        )


def test_layouts_pkl_model_dict_and_centerness_name(tmp_path):
    """detectron2's {'model': ...} of numpy arrays in a .pkl, with the older
    ``centerness`` key name, gives the same result as the flat .pth."""
    name = '550_R_50_3x'
    src = adelaidet_state(name, seed=1)
    flat = str(tmp_path / 'flat.pth')
    torch.save(src, flat)
    old = {
        (k.replace('.ctrness.', '.centerness.')): v.numpy()
        for k, v in src.items()
    }
    pkl = str(tmp_path / 'model.pkl')
    with open(pkl, 'wb') as f:
        pickle.dump({'model': old, '__author__': 'AdelaiDet'}, f)
    nested = str(tmp_path / 'nested.pth')
    torch.save({'model': src, 'iteration': 270000}, nested)
    ref = tool.load_source(flat)
    for path in (pkl, nested):
        got = tool.load_source(path)
        got = {
            k.replace('.centerness.', '.ctrness.'): v for k, v in got.items()
        }
        assert got.keys() == ref.keys()
        assert all(torch.equal(got[k], ref[k]) for k in ref)
    out = str(tmp_path / 'out.pth')
    ckpt = tool.convert_file(pkl, out, verbose=False)
    assert torch.equal(
        ckpt['state_dict']['bbox_head.conv_centerness.weight'],
        src['proposal_generator.fcos_head.ctrness.weight'],
    )
    # mmdet's init_detector takes the class names from the checkpoint
    from mmdet.apis import init_detector

    model = init_detector(
        osp.join(REPO, ckpt['meta']['config']), out, device='cpu'
    )
    assert model.dataset_meta['classes'][:2] == ('person', 'bicycle')


def test_pkl_with_code_is_refused(tmp_path):
    path = str(tmp_path / 'evil.pkl')
    with open(path, 'wb') as f:
        pickle.dump({'model': {'a': print}}, f)
    with pytest.raises(tool.ConversionError, match='builtins.print'):
        tool.load_source(path)


@pytest.fixture(scope='module')
def r50_target():
    model, _ = tool.build_target(osp.join(ZOO, CONFIGS['R_50_3x']))
    return model.state_dict()


def test_unknown_missing_and_mismatched_keys_are_named(r50_target):
    src = adelaidet_state('R_50_3x')
    bad = dict(
        src, **{'proposal_generator.fcos_head.foo.weight': torch.zeros(1)}
    )
    with pytest.raises(
        tool.ConversionError, match=r'no mmblend counterpart.*fcos_head\.foo'
    ):
        tool.convert(bad, r50_target)
    bad = dict(src)
    del bad['backbone.fpn_lateral4.weight']
    with pytest.raises(
        tool.ConversionError,
        match=r'no value: neck\.lateral_convs\.1\.conv\.weight',
    ):
        tool.convert(bad, r50_target)
    bad = dict(src)
    bad['top_layer.weight'] = torch.zeros(392, 256, 3, 3)  # attn 4x7x7
    with pytest.raises(
        tool.ConversionError, match=r'shape mismatches: top_layer\.weight'
    ):
        tool.convert(bad, r50_target)
    both = dict(src)
    both['proposal_generator.fcos_head.centerness.weight'] = src[
        'proposal_generator.fcos_head.ctrness.weight'
    ]
    with pytest.raises(tool.ConversionError, match='both map to'):
        tool.convert(both, r50_target)


def test_wrong_config_and_panoptic_are_refused(tmp_path, capsys):
    path = str(tmp_path / 'r50.pth')
    torch.save(adelaidet_state('R_50_3x'), path)
    rc = tool.main(
        [
            path,
            str(tmp_path / 'out.pth'),
            '--config',
            osp.join(ZOO, 'blendmask_r101-caffe_fpn_ms-3x_coco.py'),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert 'R-50' in err and 'blendmask_r101-caffe_fpn_ms-3x_coco.py' in err
    assert 'backbone.layer3.6' in err  # R-101 blocks without weights
    assert not osp.exists(tmp_path / 'out.pth')
    # a panoptic checkpoint (same file name as the instance one on
    # AdelaiDet's model zoo) is not an instance model
    torch.save(adelaidet_state('Panoptic/R_50_3x'), path)
    assert (
        tool.main(
            [
                path,
                str(tmp_path / 'out.pth'),
                '--config',
                osp.join(ZOO, CONFIGS['R_50_3x']),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert 'panoptic R-50' in err and 'panoptic_module' in err
    assert (
        tool.main([str(tmp_path / 'nope.pth'), str(tmp_path / 'out.pth')]) == 1
    )
    assert 'does not exist' in capsys.readouterr().err


def test_tools_test_runs_with_a_converted_checkpoint(tmp_path):
    """CLI conversion, then tools/test.py on 2 bundled coco128-seg photos
    with the zoo 550 model (BGR caffe preprocessing) at 128 px."""
    src = str(tmp_path / '550_R_50_3x.pth')
    torch.save({'model': adelaidet_state('550_R_50_3x'), 'iteration': 1}, src)
    ckpt = str(tmp_path / 'converted.pth')
    zoo = osp.join(ZOO, CONFIGS['550_R_50_3x'])
    proc = run_tool(
        [
            osp.join(
                REPO, 'tools', 'model_converters', 'adelaidet2mmblend.py'
            ),
            src,
            ckpt,
            '--config',
            zoo,
        ]
    )
    assert proc.returncode == 0, explain(proc)
    assert 'semantic head: logits rows reordered' in proc.stdout
    model = model_from_config(zoo)
    model['backbone'].pop('init_cfg', None)
    cfg = write_tiny_config(
        str(tmp_path / 'cfg'), num_train=1, num_val=2, model=model
    )
    proc = run_tool([TEST, cfg, ckpt, '--work-dir', str(tmp_path / 'test')])
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout + proc.stderr
    assert 'coco/segm_mAP' in out and 'Average Precision' in out, explain(proc)
    # the checkpoint really was loaded (mmengine warns on a mismatch)
    assert 'Load checkpoint from' in out, explain(proc)
    assert 'unexpected key' not in out and 'missing keys' not in out
