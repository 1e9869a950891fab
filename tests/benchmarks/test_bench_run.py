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
