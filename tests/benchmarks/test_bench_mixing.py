"""benchmarks/suites/mixing.py --quick: every host and its mixed model
(the host's weights loaded) return the forced detections."""


def test_mixing_quick(run_quick):
    from suites.mixing import HOSTS
    p = run_quick('mixing')
    assert p['dets'] == {n: [100] for h in HOSTS
                         for n in (h, f'blend_{h}')}
    for host, k in p['keys'].items():
        assert k['shared_keys'] > 300 and k['extra_keys'] > 0, (host, k)
        # the add-on costs something
        v = p['values']
        assert v[f'gflops/blend_{host}'] > v[f'gflops/{host}']
