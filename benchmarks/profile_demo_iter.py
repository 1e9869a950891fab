"""Where the demo's training iteration goes (issue 19), after the infinite
sampler: torch.profiler over ``--iters`` real training iterations of
configs/demo/blendmask_r18_coco128_demo.py (batches of 8 coco128-seg
photos from the config's own loader, built with 0 workers so loading is
timed in this process), split into loading a batch, forward + losses,
backward and the optimizer step (gradient clipping + AdamW), plus the
operators with the most self CPU time.

    python benchmarks/profile_demo_iter.py --threads 1 --iters 3
"""
import copy
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402

CONFIG = 'configs/demo/blendmask_r18_coco128_demo.py'
PHASES = ('load batch', 'forward + losses', 'backward',
          'optimizer step (clip + AdamW)')


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--iters', type=int, default=3)
    ap.add_argument('--rows', type=int, default=15)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.iters = 1
    common.setup()
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner
    from torch.profiler import ProfilerActivity, profile, record_function
    info = common.machine_info('cpu')
    cfg = Config.fromfile(common.repo_config(CONFIG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.num_workers, loader_cfg.persistent_workers = 0, False
    batches = iter(Runner.build_dataloader(loader_cfg, seed=0))
    for _ in range(2):  # warm-up
        model.train_step(next(batches), optim)

    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.iters):
            with record_function(PHASES[0]):
                batch = next(batches)
            with record_function(PHASES[1]):
                data = model.data_preprocessor(batch, True)
                losses = model._run_forward(data, mode='loss')
                loss, _ = model.parse_losses(losses)
            with record_function(PHASES[2]):
                optim.backward(loss)
            with record_function(PHASES[3]):
                optim.step()
                optim.zero_grad()
    wall = (time.perf_counter() - t0) / args.iters
    ka = prof.key_averages()
    phase_ms = {e.key: e.cpu_time_total / 1e3 / args.iters
                for e in ka if e.key in PHASES}
    total = sum(phase_ms.values())
    ops = sorted((e for e in ka if e.key not in PHASES),
                 key=lambda e: -e.self_cpu_time_total)[:args.rows]
    self_total = sum(e.self_cpu_time_total for e in ka
                     if e.key not in PHASES)
    conv = sum(e.self_cpu_time_total for e in ka
               if e.key not in PHASES and 'conv' in e.key.lower())
    tables = {
        'Phases of one training iteration (profiled CPU ms)': dict(
            columns=['phase', 'ms', 'share'],
            rows=[[p, phase_ms.get(p, 0.0), phase_ms.get(p, 0.0) / total]
                  for p in PHASES]),
        'Operators by self CPU time (share of all operators)': dict(
            columns=['operator', 'ms per iteration', 'share'],
            rows=[[e.key, e.self_cpu_time_total / 1e3 / args.iters,
                   e.self_cpu_time_total / self_total] for e in ops] +
            [['all convolution operators', conv / 1e3 / args.iters,
              conv / self_total]]),
    }
    name = 'profile_demo_iter' + ('_quick' if args.quick else '')
    common.finish_info(info)
    common.write_results(
        args.out, name, info, tables,
        dict(phase_ms=phase_ms, wall_s_per_iter=wall),
        [f'{CONFIG}: {args.iters} profiled iterations after 2 warm-up ones, '
         f'batch 8, torch threads {torch.get_num_threads()}, random init, '
         f'seed 0; wall {wall:.2f} s per profiled iteration (profiler '
         'overhead included; see the load average in the header).'])
    print({k: round(v) for k, v in phase_ms.items()}, f'wall {wall:.2f} s')


if __name__ == '__main__':
    main()
