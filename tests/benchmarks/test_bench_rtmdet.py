"""benchmarks/suites/rtmdet.py --quick: RTMDet-s, BlendMask on RTMDet-s and
RTMDet-Ins-s built, weights shared where keys match, every measurement
written (no timing asserted)."""


def test_rtmdet_quick(run_quick):
    from suites.rtmdet import MODELS

    p = run_quick('rtmdet')
    v = p['values']
    assert set(p['samples']) == {
        f'{k}/{m}' for k in ('latency', 'train') for m in MODELS
    }
    # the mixed model and RTMDet-Ins-s (its head extends RTMDet's) carry
    # the whole detector
    assert v['copied_keys/blend_rtmdet_s'] == v['copied_keys/rtmdet_s']
    assert v['copied_keys/rtmdet_ins_s'] == v['copied_keys/rtmdet_s'] > 300
    for m in ('blend_rtmdet_s', 'rtmdet_ins_s'):  # a mask branch costs
        assert v[f'gflops/branch_{m}'] > 0 and v[f'params_m/branch_{m}'] > 0
    (table,) = p['tables'].values()
    assert len(table['rows']) == 3
