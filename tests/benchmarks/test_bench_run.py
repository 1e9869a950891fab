"""benchmarks/run.py and the stamp of benchmarks/common.py: the suites
listed, the load rule, the result names."""

import re

import pytest


def test_list(capsys):
    import run
    import suites

    assert run.main(['--list']) == {}
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == list(suites.NAMES)
    for name in suites.NAMES:  # the registry's interface
        suite = suites.load(name)
        assert suite.ROUNDS >= 3 and isinstance(suite.TIMED, bool)
        assert callable(suite.add_arguments) and callable(suite.run)


def test_unknown_suite():
    import run
    import suites

    with pytest.raises(SystemExit):
        run.main(['no_such_suite'])
    with pytest.raises(KeyError, match='the suites are blender'):
        suites.load('no_such_suite')
    with pytest.raises(SystemExit, match='cannot be merged'):
        run.main(['blender', '--merge', 'a.json'])


def _stamp(threads, cores, before, after):
    return dict(
        threads=threads,
        machine=dict(cores=cores),
        load_average_before=[before, 0, 0],
        load_average_after=[after, 0, 0],
    )


def test_load_rule():
    from common import is_loaded, load_limit

    assert load_limit(1, 2) == 1.5
    assert load_limit(2, 2) == 2.5  # at most the cores + 0.5
    assert load_limit(1, 16) == 1.5
    assert not is_loaded(_stamp(1, 2, 1.0, 1.5))
    assert is_loaded(_stamp(1, 2, 1.6, 1.0))  # before
    assert is_loaded(_stamp(1, 2, 0.0, 1.6))  # after
    assert not is_loaded(_stamp(2, 2, 2.0, 2.4))


def test_stamp_and_names():
    import common

    s = common.finish_stamp(
        common.start_stamp(
            'blender',
            'python benchmarks/run.py blender',
            1,
            'cpu',
            False,
            True,
        )
    )
    assert re.fullmatch(r'[0-9a-z.\-]+', s['commit']), s['commit']
    assert s['loaded'] == common.is_loaded(s)
    assert s['machine']['cores'] >= 1 and s['machine']['cpu']
    assert common.result_name('train', 2) == 'train-t2'
    assert (
        common.result_name('train', 1, 'cuda', True) == 'train-t1-cuda-quick'
    )


@pytest.mark.parametrize(
    'min_s, reps', [(0.0, 1), (0.2, 1), (0.6, 3), (1.0, 4)]
)
def test_min_timing(monkeypatch, min_s, reps):
    """A timing spans >= ``min_s``: a 0.25 s function (on a fake clock)
    is called ceil(min_s / 0.25) times per timing and timed by the mean."""
    import common
    from suites.mixing import pair_rounds

    clock = [0.0]
    monkeypatch.setattr(common.time, 'perf_counter', lambda: clock[0])
    calls = {'a': 0, 'blend_a': 0}

    def fn(name):
        def call():
            calls[name] += 1
            clock[0] += 0.25

        return call

    fns = {n: fn(n) for n in calls}
    times = common.interleaved({'a': fns['a']}, 'cpu', 3, min_s)
    assert calls['a'] == 1 + 1 + 3 * reps  # warm-up, its timed call, 3 rounds
    assert times['a'] == pytest.approx([0.25] * 3)
    calls['a'] = 0
    times = pair_rounds(fns, ['a'], 'cpu', 2, min_s)
    assert calls == {'a': 2 + 2 * reps, 'blend_a': 2 + 2 * reps}
    assert times['blend_a'] == pytest.approx([0.25] * 2)
