"""benchmarks/suites/inference.py --quick: every model returns the forced
100 detections, the stage breakdown covers the whole call."""

import pytest


def test_inference_quick(run_quick):
    from suites.inference import STAGES

    p = run_quick('inference')
    assert p['dets'] == {
        n: [100] for n in ('blendmask', 'fcos', 'blendmask_rt', 'yolact550')
    }
    s = p['samples']
    assert {k[len('stage/') :] for k in s if k.startswith('stage/')} == set(
        STAGES
    ) | {'total', 'blender+paste'}
    assert sum(s[f'stage/{k}'][0] for k in STAGES) == pytest.approx(
        s['stage/total'][0]
    )
    assert all(p['values'][f'gflops/{n}'] > 0 for n in p['dets'])


def test_stage_timer_restores_the_model():
    """The wrapped forwards are the model's own again after the block."""
    import common
    import peers
    from suites.inference import StageTimer

    common.setup()
    import mmblend.models.dense_heads.blendmask_mask_head as mh

    cfg = peers.load_cfg('blendmask', 10)
    cfg.model.backbone.depth = 18
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    model = common.build_model(cfg).eval()
    paste = mh.paste_masks
    with StageTimer(model, 'cpu') as timer:
        assert model.backbone.forward is not type(model.backbone).forward
        common.predictor(model, 64, 64, 'cpu')()
    assert timer.acc['backbone'] > 0 and timer.acc['paste'] > 0
    assert 'forward' not in vars(model.backbone)
    assert 'predict_by_feat' not in vars(model.bbox_head)
    assert mh.paste_masks is paste
