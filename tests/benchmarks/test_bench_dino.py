"""benchmarks/suites/dino.py --quick: DINO and Deformable DETR with and
without our mask branch (the host's weights loaded) return 100 detections;
the branch's parameters, FLOPs and stage times are written."""

from mixing_utils import needs_query_host_torch

pytestmark = needs_query_host_torch


def test_dino_quick(run_quick):
    from suites.dino import ADD_ON, HOSTS, STAGES

    p = run_quick('dino')
    assert p['dets'] == {n: [100] for h in HOSTS for n in (h, f'blend_{h}')}
    v, s = p['values'], p['samples']
    for host, k in p['keys'].items():
        assert k['shared_keys'] > 300 and k['extra_keys'] > 0, (host, k)
        assert v[f'gflops/blend_{host}'] > v[f'gflops/{host}']
        # the default top layer: 256 -> 256 -> K*M*M = 784
        top = round(v[f'mparams/top_layer/{host}'] * 1e6)
        assert top == 257 * (256 + 784)
        assert v[f'gflops/mask_head/{host}'] > 0
        assert {f'stage/{host}/{st}' for st in STAGES} <= set(s)
        assert all(s[f'stage/{host}/{st}'][0] > 0 for st in ADD_ON)
