"""benchmarks/suites/train.py --quick: the training steps, their FLOPs and
the replayed convolutions by model part."""


def test_train_quick(run_quick):
    p = run_quick('train')
    assert set(p['samples']) == {'step/blendmask', 'step/fcos'}
    assert all(
        p['values'][f'train_gflops/{n}'] > 0 for n in ('blendmask', 'fcos')
    )
    rows = p['tables'][
        'Convolutions by model part (forward + backward, replayed alone)'
    ]['rows']
    parts = {}
    for model, part, convs, gflop, ms, _ in rows:
        parts.setdefault(model, set()).add(part)
        assert convs > 0 and gflop > 0 and ms > 0
    blendmask, fcos = parts.values()
    assert {
        'backbone',
        'neck',
        'bbox_head',
        'basis module',
        'semantic head',
    } <= blendmask
    # FCOS has no mask branch
    assert not fcos & {'basis module', 'semantic head', 'mask_head'}
    assert p['tables']['BlendMask mask-branch convolutions']['rows']
