"""Shared by the benchmark tests: benchmarks/ on sys.path, and the
``run_quick`` fixture: one suite's ``--quick`` run into a temporary folder,
checked for what every result must hold (no timing is asserted)."""

import json
import math
import os.path as osp
import sys

import pytest

BENCH = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'benchmarks'
)
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

STAMP_KEYS = {
    'suite',
    'command',
    'commit',
    'date',
    'end',
    'device',
    'threads',
    'quick',
    'timed',
    'machine',
    'versions',
    'load_average_before',
    'load_average_after',
    'available_mib_before',
    'available_mib_after',
    'load_limit',
    'loaded',
}


def family(key: str) -> str:
    """``latency/mask_rcnn`` -> ``latency``, ``blender@200`` ->
    ``blender``: what a --quick run writes at other sizes or models."""
    return key.split('@')[0].rsplit('/', 1)[0]


def check_result(payload: dict, suite: str) -> dict:
    """The result file of a --quick run of ``suite``, checked: the stamp,
    the tables (json and md), one sample per round, and the claims of the
    suite readable from it."""
    import common
    import report
    from claims import CLAIMS

    with open(payload['path']) as f:
        saved = json.load(f)
    s = saved['stamp']
    assert STAMP_KEYS <= set(s), STAMP_KEYS - set(s)
    assert (s['suite'], s['quick'], s['threads']) == (suite, True, 1)
    assert s['command'].startswith(f'python benchmarks/run.py {suite} ')
    assert s['machine']['cores'] >= 1 and s['machine']['cpu']
    assert s['commit'] != 'unknown'
    assert len(s['load_average_before']) == len(s['load_average_after']) == 3
    assert s['loaded'] == common.is_loaded(s)
    assert set(s['versions']) >= {'torch', 'mmcv', 'mmdet'}
    with open(payload['path'][: -len('.json')] + '.md') as f:
        md = f.read()
    assert saved['tables']
    for title, t in saved['tables'].items():
        assert t['rows'], title
        assert all(len(r) == len(t['columns']) for r in t['rows']), title
        assert f'## {title}' in md
        assert common.markdown_table(t['columns'], t['rows']) in md
    samples, values = saved['samples'], saved.get('values', {})
    assert samples and all(len(v) == 1 for v in samples.values())
    written = {family(k) for k in samples}
    for c in CLAIMS:
        if c.suite != suite:
            continue
        assert {family(c.num), family(c.den)} <= written, c.id
        if c.flops:
            assert {family(k) for k in c.flops} <= {
                family(k) for k in values
            }, c.id
        if {c.num, c.den} <= set(samples) and (
            c.kind != 'ratio/flops' or set(c.flops) <= set(values)
        ):
            saved['file'] = osp.basename(payload['path'])
            (v,) = report.round_values(c, saved)
            assert math.isfinite(v), c.id
    return saved


@pytest.fixture
def run_quick(tmp_path):
    """``run_quick(suite, *options)``: the checked payload of
    ``run.py SUITE --quick --out <tmp> [options]``."""
    import torch

    threads = torch.get_num_threads()

    def run_suite(suite, *options, isolated=False):
        """``isolated``: in a child process (for suites whose libraries
        should not live in the test process, e.g. OpenVINO's thread pools
        before the tests that fork DataLoader workers)."""
        argv = [suite, '--quick', '--out', str(tmp_path), *options]
        if isolated:
            import subprocess

            out = subprocess.run(
                [sys.executable, osp.join(BENCH, 'run.py'), *argv],
                capture_output=True,
                text=True,
            )
            assert out.returncode == 0, out.stdout + out.stderr
            (path,) = [
                line.split(' ', 1)[1]
                for line in out.stdout.splitlines()
                if line.startswith('wrote ')
            ]
            with open(path) as f:
                payload = dict(json.load(f), path=path)
        else:
            import run

            payload = run.main(argv)
        return check_result(payload, suite)

    yield run_suite
    torch.set_num_threads(threads)  # run.py set 1 for this process
