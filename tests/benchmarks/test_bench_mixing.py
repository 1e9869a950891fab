"""benchmarks/suites/mixing.py --quick: every host and its mixed model
(the host's weights loaded) return the forced 100 detections (YOLOX's
post-processing has no max_per_img: common.cap_dets raises its score_thr;
RTMDet's random boxes: common.build_model keeps them of positive size)."""


def test_mixing_quick(run_quick):
    from suites.mixing import HOSTS

    p = run_quick('mixing')
    for h in HOSTS:
        assert p['dets'][f'blend_{h}'] == p['dets'][h], h
        assert p['dets'][h] == [100], h

    for host, k in p['keys'].items():
        assert k['shared_keys'] > 300 and k['extra_keys'] > 0, (host, k)
        # the add-on costs something
        v = p['values']
        assert v[f'gflops/blend_{host}'] > v[f'gflops/{host}']
