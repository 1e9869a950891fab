"""Ratio estimators from the raw round-robin samples of the result jsons.

On a shared machine the load changes between rounds, so besides the ratio
of medians this prints the ratio of minima (interference only adds time)
and the median of per-round ratios (both models timed back to back).

    python benchmarks/summarize.py [--out benchmarks/results]
"""
import argparse
import json
import os.path as osp
import statistics
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402

PAIRS = [
    ('bench_inference', 'raw_s', 'blendmask', 'mask_rcnn', 0.75, '<='),
    ('bench_inference', 'raw_s', 'blendmask', 'condinst', 0.8, '<='),
    ('bench_inference', 'raw_s', 'blendmask', 'fcos', 1.15, '<='),
    ('bench_inference', 'raw_s', 'blendmask', 'yolact', None, ''),
    ('bench_inference', 'raw_rt_s', 'blendmask_rt', 'yolact550', 1.0, '<='),
] + [(run, 'raw_s', ours, peer, bound, op)
      for run in ('bench_train', 'bench_train_targets')
      for ours in common.TRAIN_MODELS
      for peer, bound, op in common.TRAIN_TARGETS] + [
    ('bench_train', 'raw_s', 'blendmask', 'mask_rcnn', None, ''),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=osp.join(common.REPO_ROOT, 'benchmarks',
                                              'results'))
    args = ap.parse_args(argv)
    rows = []
    for name, key, a, b, lim, op in PAIRS:
        path = osp.join(args.out, f'{name}.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            d = json.load(f)
        raw = d.get(key, {})
        if a not in raw or b not in raw:
            continue
        ta, tb = raw[a], raw[b]
        med = statistics.median(ta) / statistics.median(tb)
        mn = min(ta) / min(tb)
        per = statistics.median(x / y for x, y in zip(ta, tb))
        vals = [med, mn, per]
        if lim is None:
            verdict = ''
        else:
            ok = [common.meets(v, lim, op) for v in vals]
            verdict = 'met' if all(ok) else 'missed' if not any(ok) else \
                'mixed'
        rows.append([name, f'{a} / {b}', len(ta), med, mn, per,
                     f'{op} {lim}' if lim else '', verdict])
        print(f'{name:22s} {a}/{b}: median {med:.3f}, min {mn:.3f}, '
              f'per-round {per:.3f} {verdict}')
    info = common.machine_info('cpu')
    common.finish_info(info)
    common.write_results(args.out, 'summary_ratios', info, {
        'Ratio estimators (time A / time B)': dict(
            columns=['run', 'A / B', 'rounds', 'ratio of medians',
                     'ratio of minima', 'median per-round ratio', 'target',
                     'verdict (all three)'], rows=rows)}, {}, [
        'Computed from the raw samples in the result jsons; machine info '
        'here is of the summarising process, see each run for its own.'])


if __name__ == '__main__':
    main()
