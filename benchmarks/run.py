"""Run one benchmark suite and write its stamped result.

    python benchmarks/run.py --list
    python benchmarks/run.py SUITE [--quick] [--threads N] [--rounds R]
                             [--out DIR] [--device cpu|cuda] [suite options]
    python benchmarks/run.py SUITE --help        # the suite's options
    python benchmarks/run.py accuracy --merge A.json B.json [--out DIR]

Writes ``<out>/<suite>-t<N>[-cuda][-quick].json`` (stamp, arguments,
tables, per-round samples) and a ``.md`` of its tables; then
``python benchmarks/report.py`` turns the results into verdicts.
"""

import argparse
import json
import os.path as osp
import shlex
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
import suites  # noqa: E402


def parser(suite=None, add_help=True) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog='benchmarks/run.py',
        add_help=add_help,
        description=(suite.__doc__ if suite else __doc__).split('\n')[0],
    )
    ap.add_argument('suite', nargs='?', choices=suites.NAMES)
    ap.add_argument(
        '--list', action='store_true', help='list the suites and exit'
    )
    ap.add_argument(
        '--quick',
        action='store_true',
        help='tiny sizes, 1 round: a smoke test, never judged',
    )
    ap.add_argument(
        '--threads', type=int, default=1, help='torch threads (default 1)'
    )
    ap.add_argument(
        '--rounds',
        type=int,
        default=None,
        help='timed rounds (accuracy: seeds); default: the suite\'s ROUNDS',
    )
    ap.add_argument(
        '--min-timing',
        type=float,
        default=1.0,
        help='seconds one timing spans at least: a faster model is called '
        'back to back and timed by the mean (default 1; --quick: 0)',
    )
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--out', default=common.RESULTS_DIR)
    ap.add_argument(
        '--merge',
        nargs='+',
        metavar='JSON',
        help='no run: one result from the results of earlier '
        'runs (suites with a merge function: accuracy)',
    )
    if suite is not None:
        suite.add_arguments(ap)
    return ap


def main(argv=None) -> dict:
    """Run the suite of ``argv`` (``sys.argv[1:]`` by default); returns
    the written payload (with ``path``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first, _ = parser(add_help=False).parse_known_args(argv)
    if first.suite is None and not first.list:
        parser().parse_args(argv)  # --help, or an error
    if first.list or first.suite is None:
        for name in suites.NAMES:
            doc = suites.load(name).__doc__.split('\n')[0]
            print(f'{name:10s} {doc}')
        return {}
    suite = suites.load(first.suite)
    args = parser(suite).parse_args(argv)
    command = 'python benchmarks/run.py ' + shlex.join(argv)
    if args.merge:
        if not hasattr(suite, 'merge'):
            raise SystemExit(f'run.py: {args.suite} results cannot be merged')
        runs = []
        for path in args.merge:
            with open(path) as f:
                runs.append(json.load(f))
        payload = suite.merge(runs)
        payload['stamp'] = dict(payload['stamp'], command=command)
        s = payload['stamp']
        name = common.result_name(
            args.suite, s['threads'], s['device'], s['quick']
        )
    else:
        import torch

        torch.set_num_threads(args.threads)
        if args.quick:
            args.rounds, args.min_timing = 1, 0.0
        elif args.rounds is None:
            args.rounds = suite.ROUNDS
        stamp = common.start_stamp(
            args.suite,
            command,
            args.threads,
            args.device,
            args.quick,
            suite.TIMED,
        )
        common.setup()
        payload = suite.run(args)
        payload = dict(
            stamp=common.finish_stamp(stamp), args=vars(args), **payload
        )
        name = common.result_name(
            args.suite, args.threads, args.device, args.quick
        )
    payload['path'] = common.write_result(args.out, name, payload)
    print('wrote', payload['path'])
    return payload


if __name__ == '__main__':
    main()
