"""benchmarks/report.py and claims.py: the verdict rule, which result a
claim is judged on, and the generated tables committed as generated."""

import os.path as osp

import pytest


def _result(
    samples,
    date='2027-01-01T00:00:00',
    commit='abc1234',
    loaded=False,
    threads=1,
    suite='inference',
    quick=False,
    values=None,
    timed=True,
    args=None,
):
    return dict(
        file=f'{suite}-{date}.json',
        samples=samples,
        values=values or {},
        args=args or {},
        stamp=dict(
            suite=suite,
            commit=commit,
            loaded=loaded,
            threads=threads,
            quick=quick,
            device='cpu',
            date=date,
            timed=timed,
        ),
    )


def _claim(**kw):
    from claims import claim

    return claim(
        **dict(
            dict(
                id='x',
                suite='inference',
                what='a / b',
                num='t/a',
                den='t/b',
                op='<=',
                target=1.0,
            ),
            **kw,
        )
    )


def test_verdict_from_the_range_of_rounds():
    from report import judge

    c = _claim()
    met = _result({'t/a': [8, 9, 9.5], 't/b': [10, 10, 10]})
    assert judge(c, [met])['verdict'] == 'met'
    j = judge(c, [_result({'t/a': [9, 11, 9.5], 't/b': [10, 10, 10]})])
    assert j['verdict'] == 'inconclusive (within the spread)'
    assert (j['lo'], j['measured'], j['hi']) == (0.9, 0.95, 1.1)
    missed = _result({'t/a': [11, 12, 10.5], 't/b': [10, 10, 10]})
    assert judge(c, [missed])['verdict'] == 'missed'
    # at the bound: '<=' meets it, '<' does not
    edge = _result({'t/a': [10, 10, 10], 't/b': [10, 10, 10]})
    assert judge(c, [edge])['verdict'] == 'met'
    assert judge(_claim(op='<'), [edge])['verdict'] == 'missed'


def test_within_band_and_difference():
    from report import judge

    band = _claim(
        op='within',
        target=(0.95, 1.05),
        kind='ratio/flops',
        flops=('f/a', 'f/b'),
    )
    flops = {'f/a': 12.0, 'f/b': 10.0}  # time ratio / 1.2
    r = _result({'t/a': [12, 12.3, 11.8], 't/b': [10, 10, 10]}, values=flops)
    assert judge(band, [r])['verdict'] == 'met'
    wide = _result(
        {'t/a': [10, 12, 14], 't/b': [10, 10, 10]}, values=flops
    )  # 0.83 to 1.17: the band inside
    assert judge(band, [wide])['verdict'] == 'inconclusive (within the spread)'
    low = _result({'t/a': [10, 10.5, 11], 't/b': [10, 10, 10]}, values=flops)
    assert judge(band, [low])['verdict'] == 'missed'
    ap = _claim(
        op='>=', target=0.0, kind='difference', suite='accuracy', threads=None
    )
    r = _result(
        {'t/a': [0.30, 0.31, 0.29], 't/b': [0.28, 0.30, 0.27]},
        suite='accuracy',
        threads=2,
    )
    assert judge(ap, [r])['verdict'] == 'met'
    # accuracy rounds are seeds: two are judged, one is not
    two = {'t/a': [0.30, 0.31], 't/b': [0.28, 0.30]}
    assert judge(ap, [_result(two, suite='accuracy')])['verdict'] == 'met'
    one = {'t/a': [0.30], 't/b': [0.28]}
    assert (
        judge(ap, [_result(one, suite='accuracy')])['verdict']
        == 'inconclusive (1 round)'
    )


def test_unjudged_results():
    from report import judge

    c = _claim()
    s = {'t/a': [8, 9, 9.5], 't/b': [10, 10, 10]}
    assert judge(c, [])['verdict'] == 'no result'
    assert (
        judge(c, [_result(s, loaded=True)])['verdict']
        == 'inconclusive (loaded)'
    )
    assert (
        judge(c, [_result(s, commit='unknown', loaded=True)])['verdict']
        == 'inconclusive (unstamped, loaded)'
    )
    two = {'t/a': [8, 9], 't/b': [10, 10]}
    assert judge(c, [_result(two)])['verdict'] == 'inconclusive (2 rounds)'
    # accuracy is not timed: its load does not matter
    ap = _claim(suite='accuracy', threads=None)
    assert (
        judge(ap, [_result(s, suite='accuracy', loaded=True, timed=False)])[
            'verdict'
        ]
        == 'met'
    )


def test_pick_newest_fitting_result():
    from report import pick

    c = _claim()
    s = {'t/a': [1, 1, 1], 't/b': [1, 1, 1]}
    old = _result(s, date='2027-01-01T00:00:00')
    new = _result(s, date='2027-02-01T00:00:00')
    assert pick(c, [new, old]) is new
    assert (
        pick(
            c,
            [
                old,
                _result(s, date='2027-03-01', quick=True),
                _result(s, date='2027-03-01', threads=2),
                _result(s, date='2027-03-01', suite='train'),
                _result({'t/a': [1]}, date='2027-03-01'),
            ],
        )
        is old
    )
    assert pick(_claim(threads=2), [old]) is None
    # a run in another setting than the claim states is not used
    sized = _claim(setting=dict(size=[512, 768]))
    small = _result(s, date='2027-03-01', args=dict(size=[96, 96]))
    right = _result(s, args=dict(size=[512, 768]))
    assert pick(sized, [small, right]) is right
    assert pick(sized, [small, old]) is None


def test_claims_table():
    import suites
    from claims import CLAIMS
    from report import OPS

    assert len({c.id for c in CLAIMS}) == len(CLAIMS)
    for c in CLAIMS:
        assert c.suite in suites.NAMES, c.id
        assert c.op in OPS and c.kind in (
            'ratio',
            'ratio/flops',
            'difference',
        ), c.id
        assert c.kind != 'ratio/flops' or c.flops, c.id


def _stale(document):
    import report

    generated = report.blocks(report.load_results())
    return report.stale({document: generated[document]})


def test_benchmarks_readme_is_generated():
    """Its tables equal what report.py makes of the committed results: a
    hand edit or a stale table fails. It stays short."""
    import report

    assert _stale(report.BENCH_README) == [], 'run python benchmarks/report.py'
    with open(report.BENCH_README) as f:
        assert len(f.read().splitlines()) <= 200


def test_readme_headline_is_generated():
    import report

    with open(report.README) as f:
        if report.find_block(f.read(), 'headline') is None:
            pytest.skip(
                f'{osp.basename(report.README)} has no '
                '<!-- bench:headline --> block yet'
            )
    assert _stale(report.README) == [], 'run python benchmarks/report.py'


def test_replace_block_keeps_the_rest():
    from report import find_block, replace_block

    text = 'a\n<!-- bench:x -->\nold\n<!-- /bench:x -->\nb\n'
    new = replace_block(text, 'x', 'new')
    assert new == 'a\n<!-- bench:x -->\nnew\n<!-- /bench:x -->\nb\n'
    assert find_block(new, 'x') == 'new\n'
    with pytest.raises(KeyError):
        replace_block(text, 'y', 'new')
