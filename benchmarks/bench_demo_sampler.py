"""The demo's training iteration before/after the infinite sampler
(issue 19): ``data_time`` share and iteration time of
configs/demo/blendmask_r18_coco128_demo.py through tools/train.py.

Variants (``--cfg-options`` on the same config, same seed):

* ``before``: mmengine's ``DefaultSampler`` (the config before the change):
  an epoch ends every 11 iterations (88 images, batch 8) and
  IterBasedTrainLoop sleeps 2 s at each end;
* ``after``: the config as it is (``InfiniteSampler`` under
  ``AspectRatioBatchSampler``, 1 persistent worker);
* ``after, 0 workers``: the same, data loaded in the main process.

Each run trains ``--iters`` iterations in a fresh ``tools/train.py``
process; per-iteration ``time`` and ``data_time`` come from its
``scalars.json`` (logger interval 1, window 1), the first iteration
(start-up, worker start) left out. Variants run round-robin, ``--rounds``
times, order rotated per round, so load changes hit all alike. Epoch-end
sleeps are counted as iterations whose data_time is at least 2 s.

    python benchmarks/bench_demo_sampler.py --threads 1 --iters 34 --rounds 1
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402

CONFIG = 'configs/demo/blendmask_r18_coco128_demo.py'
VARIANTS = {
    'before': ['train_dataloader.sampler.type=DefaultSampler'],
    'after': [],
    'after, 0 workers': ['train_dataloader.num_workers=0',
                         'train_dataloader.persistent_workers=False'],
}
EPOCH_END = 'Reach the end of the dataloader'
SLEEP_S = 2.0  # mmengine's time.sleep(2) at an epoch end


def run(variant, iters, threads, work_dir):
    opts = [f'train_cfg.max_iters={iters}',
            f'train_cfg.val_begin={iters + 1}',
            'default_hooks.logger.interval=1',
            'log_processor.window_size=1',
            'default_hooks.checkpoint.interval=1000000',
            'randomness.seed=0'] + VARIANTS[variant]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES='',
               PYTHONPATH=common.REPO_ROOT)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, osp.join(common.REPO_ROOT, 'tools', 'train.py'),
         osp.join(common.REPO_ROOT, CONFIG), '--work-dir', work_dir,
         '--cfg-options', *opts],
        cwd=common.REPO_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f'{variant}: exit {proc.returncode}\n'
                           f'{proc.stderr[-3000:]}')
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data',
                                  'scalars.json'))
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    recs = [r for r in recs if 'data_time' in r and 'loss' in r]
    assert [r['iter'] for r in recs] == list(range(1, iters + 1)), recs
    steady = recs[1:]
    return dict(
        time=sum(r['time'] for r in steady) / len(steady),
        data_time=sum(r['data_time'] for r in steady) / len(steady),
        # the 2 s sleep is a floor of data_time where it happens (mmengine
        # logs its warning once only: duplicate warnings are filtered)
        sleeps=sum(r['data_time'] >= SLEEP_S for r in recs),
        warned=EPOCH_END in proc.stdout + proc.stderr,
        wall=wall, loss_last=recs[-1]['loss'],
        data_times=[r['data_time'] for r in recs])


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--iters', type=int, default=34)
    ap.add_argument('--rounds', type=int, default=1)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.iters, args.rounds = 13, 1
    threads = args.threads or os.cpu_count()
    info = common.machine_info('cpu')
    info['torch_threads'] = threads
    names = list(VARIANTS)
    res = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                out = run(n, args.iters, threads,
                          osp.join(tmp, f'{n.replace(" ", "_")}_{r}'))
                print(n, {k: round(v, 3) for k, v in out.items()
                          if k != 'data_times'}, flush=True)
                res[n].append(out)

    def med(n, key):
        return common.median([o[key] for o in res[n]])

    base = med('before', 'time')
    rows = [[n, med(n, 'time'), med(n, 'data_time'),
             med(n, 'data_time') / med(n, 'time'), med(n, 'time') / base,
             med(n, 'sleeps')] for n in names]
    tables = {
        'Demo training iteration (s), before/after the infinite sampler':
        dict(columns=['variant', 'iteration s', 'data_time s',
                      'data_time share', 'x before',
                      'iterations with data_time >= 2 s'],
             rows=rows)}
    name = 'bench_demo_sampler' + ('_quick' if args.quick else '')
    common.finish_info(info)
    common.write_results(
        args.out, name, info, tables, dict(runs=res),
        [f'{CONFIG} through tools/train.py, {args.iters} iterations per run '
         f'(first left out), {args.rounds} round(s), medians; torch threads '
         f'{threads}; seed 0; the machine\'s load average is in the header '
         '(the 2 s sleeps do not scale with load, the compute does).'])


if __name__ == '__main__':
    main()
