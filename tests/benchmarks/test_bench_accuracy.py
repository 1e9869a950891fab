"""benchmarks/suites/accuracy.py: --quick trains and evaluates, --merge
joins runs of other models, every light model builds."""

import json

import pytest


def test_accuracy_quick_and_merge(run_quick, tmp_path):
    import run
    from suites.accuracy import METRICS

    p = run_quick('accuracy', '--work-dir', str(tmp_path / 'wd'))
    assert {f'{k}/blendmask' for k in METRICS} <= set(p['samples'])
    # a second run of another model, then one result of both
    other = dict(
        p,
        samples={
            k.replace('blendmask', 'condinst'): v
            for k, v in p['samples'].items()
        },
    )
    (tmp_path / 'b').mkdir()
    b = tmp_path / 'b' / 'b.json'
    b.write_text(json.dumps(other))
    a = tmp_path / 'accuracy-t1-quick.json'
    merged = run.main(
        ['accuracy', '--merge', str(a), str(b), '--out', str(tmp_path / 'm')]
    )
    assert set(merged['samples']) == set(p['samples']) | set(other['samples'])
    assert merged['args']['models'] == ['blendmask', 'condinst']
    assert len(merged['stamp']['merged']) == 2
    assert [
        r[0]
        for r in merged['tables']['Accuracy (COCO AP %, median over seeds)'][
            'rows'
        ]
    ] == ['BlendMask (blender 28_4_7)', 'CondInst']
    with pytest.raises(ValueError, match='is in two runs'):
        run.main(
            [
                'accuracy',
                '--merge',
                str(a),
                str(a),
                '--out',
                str(tmp_path / 'm'),
            ]
        )
    other['args'] = dict(other['args'], iters=2)
    b.write_text(json.dumps(other))
    with pytest.raises(ValueError, match='differ in iters'):
        run.main(
            [
                'accuracy',
                '--merge',
                str(a),
                str(b),
                '--out',
                str(tmp_path / 'm'),
            ]
        )


def test_every_light_model_builds(tmp_path):
    """The --quick run above trains only BlendMask. Every model has the
    demo's ImageNet-pretrained backbone and input normalisation."""
    import argparse

    from mmdet.registry import MODELS

    from suites import accuracy

    args = argparse.Namespace(size=[96, 96], iters=1, batch=2, quick=True)
    for name in accuracy.MODELS:
        full = accuracy.full_cfg(name, 0, args, str(tmp_path))
        assert full.model.data_preprocessor == accuracy.PREPROCESSOR, name
        cfg = accuracy.model_cfg(name)
        # the RTMDet pair takes P3-P5 only
        assert dict(cfg.backbone, out_indices=None) == dict(
            accuracy.BACKBONE, out_indices=None
        ), name
        assert (
            cfg.backbone.init_cfg.checkpoint == 'efficientnet-lite://lite0'
        ), name
        model = MODELS.build(cfg)
        assert sum(p.numel() for p in model.parameters()) > 0, name
    # each mixing model is its host with the blender
    assert (
        accuracy.model_cfg('blendmask_rtmdet').bbox_head.type
        == 'BlendRTMDetSepBNHead'
    )
    assert (
        accuracy.model_cfg('blendmask_atss').bbox_head.type == 'BlendATSSHead'
    )
    mixed = accuracy.model_cfg('mask_rcnn_blender').roi_head
    assert mixed.type == 'BlendRoIHead'
    assert mixed.mask_head.basis.in_channels == accuracy.C
