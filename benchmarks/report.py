"""Verdicts of the claims (claims.py) from the result files, written into
the generated blocks of benchmarks/README.md and README.md.

    python benchmarks/report.py           # rewrite the generated blocks
    python benchmarks/report.py --check   # exit 1 if a block is stale

A generated block lies between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``: ``bench:<suite>`` (one per suite with claims) in
benchmarks/README.md, ``bench:headline`` in README.md. Nothing outside the
blocks is touched.

Each claim is judged on the newest (by stamp date) non-quick CPU result of
its suite, at its thread count and setting, that holds its samples. Per
round it computes the claim's value; the verdict compares the whole range
of the rounds' values (min to max) with the target: **met** if every round
meets it, **missed** if none does, else **inconclusive (within the
spread)**. It is **inconclusive** without judging when the run is unstamped
(commit unknown), loaded (timed suites), or has fewer than
:data:`MIN_ROUNDS` rounds (:data:`MIN_SEEDS` for accuracy differences,
whose rounds are training seeds).
"""

import argparse
import glob
import json
import os.path as osp
import re
import statistics
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
from claims import CLAIMS, Claim  # noqa: E402

BENCH_README = osp.join(common.BENCH_DIR, 'README.md')
README = osp.join(common.REPO_ROOT, 'README.md')
MIN_ROUNDS = 3
#: rounds of a ``difference`` claim (accuracy) are seeds, each a training
#: run; the issues that set accuracy targets ask for >= 2
MIN_SEEDS = 2


def load_results(results_dir: str = common.RESULTS_DIR) -> List[dict]:
    """Every result json under ``results_dir`` (and its subfolders), with
    its path relative to ``results_dir`` as ``file``."""
    out = []
    for path in sorted(
        glob.glob(osp.join(results_dir, '**', '*.json'), recursive=True)
    ):
        with open(path) as f:
            payload = json.load(f)
        if 'stamp' in payload:
            payload['file'] = osp.relpath(path, results_dir)
            out.append(payload)
    return out


def pick(claim: Claim, results: List[dict]) -> Optional[dict]:
    """The newest non-quick CPU result of the claim's suite, thread count
    and setting that holds its samples (and FLOPs where it divides by
    them)."""

    def fits(r):
        s = r['stamp']
        return (
            s['suite'] == claim.suite
            and not s['quick']
            and s['device'] == 'cpu'
            and claim.threads in (None, s['threads'])
            and all(r['args'].get(k) == v for k, v in claim.setting.items())
            and {claim.num, claim.den} <= set(r['samples'])
            and (
                claim.kind != 'ratio/flops'
                or set(claim.flops) <= set(r.get('values', {}))
            )
        )

    fitting = [r for r in results if fits(r)]
    return max(fitting, key=lambda r: r['stamp']['date'], default=None)


def round_values(claim: Claim, result: dict) -> List[float]:
    """The claim's value in each round of ``result``."""
    a, b = result['samples'][claim.num], result['samples'][claim.den]
    if len(a) != len(b):
        raise ValueError(
            f"{result['file']}: {claim.num} and {claim.den} "
            'have different numbers of rounds'
        )
    if claim.kind == 'difference':
        return [x - y for x, y in zip(a, b)]
    scale = 1.0
    if claim.kind == 'ratio/flops':
        v = result['values']
        scale = v[claim.flops[0]] / v[claim.flops[1]]
    return [x / y / scale for x, y in zip(a, b)]


OPS = {
    '<=': lambda v, t: v <= t,
    '<': lambda v, t: v < t,
    '>=': lambda v, t: v >= t,
    'within': lambda v, t: t[0] <= v <= t[1],
}


def side(lo: float, hi: float, op: str, target) -> Optional[str]:
    """``'met'`` if all of ``[lo, hi]`` meets ``op target``, ``'missed'``
    if none of it does, else None (each target is an interval, so both
    ends decide)."""
    ok = [OPS[op](v, target) for v in (lo, hi)]
    if all(ok):
        return 'met'
    if op == 'within':  # the band may lie inside [lo, hi]
        return 'missed' if hi < target[0] or lo > target[1] else None
    return 'missed' if not any(ok) else None


def judge(claim: Claim, results: List[dict]) -> dict:
    """``result`` (or None), ``values`` per round, ``measured`` (their
    median), ``lo``, ``hi`` and the ``verdict`` of ``claim``."""
    result = pick(claim, results)
    if result is None:
        return dict(result=None, values=[], verdict='no result')
    values = round_values(claim, result)
    s = result['stamp']
    reasons = []
    if s['commit'] == 'unknown':
        reasons.append('unstamped')
    if s['timed'] and s['loaded']:
        reasons.append('loaded')
    need = MIN_SEEDS if claim.kind == 'difference' else MIN_ROUNDS
    if len(values) < need:
        reasons.append(f'{len(values)} round' + 's' * (len(values) != 1))
    lo, hi = min(values), max(values)
    verdict = None if reasons else side(lo, hi, claim.op, claim.target)
    if verdict is None:
        verdict = 'inconclusive ({})'.format(
            ', '.join(reasons) or 'within the spread'
        )
    return dict(
        result=result,
        values=values,
        lo=lo,
        hi=hi,
        measured=statistics.median(values),
        verdict=verdict,
    )


# ------------------------------------------------------------ formatting --
def fmt_value(claim: Claim, v: float) -> str:
    if claim.kind == 'difference':
        return f'{100 * v:+.1f} AP'
    return fmt_ratio(v)


def fmt_ratio(v: float) -> str:
    """3 significant digits, trailing zeros kept: ``1.00x``."""
    return f'{v:#.3g}'.rstrip('.') + 'x'


def fmt_range(claim: Claim, judged: dict) -> str:
    """``lo to hi, N rounds`` (``1 round``)."""
    n = len(judged['values'])
    if n == 1:
        return '1 round'
    return (
        f"{fmt_value(claim, judged['lo'])} to "
        f"{fmt_value(claim, judged['hi'])}, {n} rounds"
    )


def fmt_target(claim: Claim) -> str:
    if claim.op == 'within':
        return '{}x to {}x'.format(*claim.target)
    return f'{claim.op} ' + (
        f'{100 * claim.target:g} AP'
        if claim.kind == 'difference'
        else f'{claim.target:g}x'
    )


def fmt_flops(claim: Claim, result: Optional[dict]) -> str:
    values = (result or {}).get('values', {})
    if claim.flops is None or not set(claim.flops) <= set(values):
        return ''
    return fmt_ratio(values[claim.flops[0]] / values[claim.flops[1]])


def run_line(result: dict) -> str:
    s = result['stamp']
    md = osp.splitext(result['file'])[0] + '.md'
    line = (
        f"[`{result['file']}`](results/{md}): commit {s['commit']}, "
        f"{s['date'][:10]}, {s['threads']} thread"
        f"{'s' * (s['threads'] != 1)}, "
        f"{s['machine']['cpu']} ({s['machine']['cores']} cores), load "
        f"average {s['load_average_before'][0]:.2f} -> "
        f"{s['load_average_after'][0]:.2f} (limit {s['load_limit']:g})"
    )
    if s.get('note'):
        line += f"; {s['note']}"
    return line + '.'


def suite_block(suite: str, results: List[dict]) -> str:
    rows, used = [], []
    for c in CLAIMS:
        if c.suite != suite:
            continue
        j = judge(c, results)
        r = j['result']
        if r is not None and r not in used:
            used.append(r)
        cells = (
            ['', '', '']
            if r is None
            else [
                fmt_value(c, j['measured']),
                fmt_range(c, j),
                fmt_flops(c, r),
            ]
        )
        rows.append(
            [
                f'{c.what} (`{c.id}`)',
                *cells,
                fmt_target(c),
                f"**{j['verdict']}**",
            ]
        )
    lines = [
        common.markdown_table(
            [
                'claim',
                'median',
                'range over rounds',
                'FLOPs',
                'target',
                'verdict',
            ],
            rows,
        ),
        '',
    ]
    return '\n'.join(lines + [f'Run: {run_line(r)}' for r in used])


def headline_block(results: List[dict]) -> str:
    rows = []
    for c in CLAIMS:
        if c.headline:
            j = judge(c, results)
            measured = (
                ''
                if j['result'] is None
                else (f"{fmt_value(c, j['measured'])} ({fmt_range(c, j)})")
            )
            rows.append([c.what, measured, fmt_target(c), j['verdict']])
    return '\n'.join(
        [
            common.markdown_table(
                ['claim', 'measured: median (range)', 'target', 'verdict'],
                rows,
            ),
            '',
            'Generated by `python benchmarks/report.py` from '
            '`benchmarks/results/`; the runs and the method are in '
            '[benchmarks/README.md](benchmarks/README.md).',
        ]
    )


def blocks(results: List[dict]) -> Dict[str, Dict[str, str]]:
    """Document path -> {block name: generated text}."""
    suites = list(dict.fromkeys(c.suite for c in CLAIMS))
    return {
        BENCH_README: {s: suite_block(s, results) for s in suites},
        README: {'headline': headline_block(results)},
    }


# ------------------------------------------------------------- documents --
def _pattern(name: str):
    return re.compile(
        rf'(<!-- bench:{re.escape(name)} -->\n)(.*?)'
        rf'(<!-- /bench:{re.escape(name)} -->)',
        re.S,
    )


def find_block(text: str, name: str) -> Optional[str]:
    m = _pattern(name).search(text)
    return None if m is None else m.group(2)


def replace_block(text: str, name: str, content: str) -> str:
    if find_block(text, name) is None:
        raise KeyError(name)
    return _pattern(name).sub(
        lambda m: m.group(1) + content + '\n' + m.group(3), text
    )


def stale(generated: Dict[str, Dict[str, str]]) -> List[str]:
    """``'<document>: <block>'`` for each block that is missing from its
    document or differs from ``generated``."""
    out = []
    for path, named in generated.items():
        with open(path) as f:
            text = f.read()
        out += [
            f'{osp.relpath(path, common.REPO_ROOT)}: {name}'
            for name, content in named.items()
            if find_block(text, name) != content + '\n'
        ]
    return out


def write(generated: Dict[str, Dict[str, str]]) -> None:
    for path, named in generated.items():
        with open(path) as f:
            text = f.read()
        for name, content in named.items():
            try:
                text = replace_block(text, name, content)
            except KeyError:
                print(
                    f'{osp.relpath(path, common.REPO_ROOT)} has no block '
                    f'{name}: add the two lines "<!-- bench:{name} -->" '
                    f'and "<!-- /bench:{name} -->" where it goes',
                    file=sys.stderr,
                )
        with open(path, 'w') as f:
            f.write(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--results', default=common.RESULTS_DIR)
    ap.add_argument(
        '--check',
        action='store_true',
        help='write nothing; exit 1 if a block is stale',
    )
    args = ap.parse_args(argv)
    generated = blocks(load_results(args.results))
    if args.check:
        bad = stale(generated)
        for b in bad:
            print('stale or missing:', b)
        return int(bool(bad))
    write(generated)
    return 0


if __name__ == '__main__':
    sys.exit(main())
