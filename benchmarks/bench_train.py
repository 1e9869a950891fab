"""Training iteration time and peak memory: BlendMask R-50 vs Mask R-CNN,
CondInst, YOLACT and FCOS (R-50), batch 2 of random images with random
rectangle ground truth (5 instances per image) at one common input size.

One iteration = forward with losses + backward + SGD step (random init,
backbone init_cfg=None; BN/GN as in each config). Median of N iterations
after a warm-up, models round-robin, same torch threads. Peak memory: CPU ->
peak RSS increase of a fresh subprocess over 2 iterations; CUDA ->
torch.cuda.max_memory_allocated.

    python benchmarks/bench_train.py [--size 384 384] [--repeats 3]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402
import peers  # noqa: E402

MEM_NOTE = ('Memory (CPU): peak RSS above the level before the iteration, '
            'sampled every 2 ms during one iteration (after a warm-up one) in '
            'a fresh process per model; CUDA: max_memory_allocated.')
MODELS = ['blendmask', 'mask_rcnn', 'condinst', 'yolact', 'fcos',
          'blendmask_w128']


def make_step(name, size, batch, device):
    return common.train_step(peers.load_cfg(name, 0), size, batch, device)


def count_flops(name, size, batch):
    """GFLOPs (2 x multiply-adds) of convs/linears of one training
    forward (losses included), counted with torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode
    cfg = peers.load_cfg(name, 0)
    model = common.build_model(cfg, 'cpu').train()
    inputs, samples = common.fake_batch(model, batch, *size, 'cpu',
                                        with_gt=True, num_gt=5)
    with FlopCounterMode(display=False) as fc:
        model(inputs, samples, mode='loss')
    return fc.get_total_flops() / 1e9


def mem_child(name, size, batch, device):
    common.setup()
    return common.peak_memory_mib(make_step(name, size, batch, device),
                                  device)


def peak_mem(name, size, batch, device, threads):
    cmd = [sys.executable, osp.abspath(__file__), '--mem-child', name,
           '--size', *map(str, size), '--batch', str(batch), '--device',
           device, '--threads', str(threads)]
    return common.run_mem_child(cmd, timeout=900)


def profile_step(name, size, batch, device, rows=15):
    """torch.profiler table (self CPU time) of one training iteration."""
    from torch.profiler import ProfilerActivity, profile
    step = make_step(name, size, batch, device)
    step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                     if device == 'cuda' else [])
    with profile(activities=acts) as prof:
        step()
    key = 'self_cuda_time_total' if device == 'cuda' else \
        'self_cpu_time_total'
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[384, 384])
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--models', nargs='+', default=MODELS)
    ap.add_argument('--no-memory', action='store_true')
    ap.add_argument('--profile', nargs='*', default=None,
                    help='also write torch.profiler tables of these models')
    ap.add_argument('--only-memory', action='store_true')
    ap.add_argument('--name', default='bench_train')
    ap.add_argument('--mem-child', default=None, help=argparse.SUPPRESS)
    args = common.parse_args(ap, argv)
    if args.mem_child:
        print('PEAK_MB', mem_child(args.mem_child, args.size, args.batch,
                                   args.device))
        return
    if args.quick:
        args.size, args.repeats, args.no_memory = [96, 96], 1, True
        if args.models == MODELS:
            args.models = ['blendmask', 'fcos']
    common.setup()
    dev = args.device
    info = common.machine_info(dev)
    threads = torch.get_num_threads()
    if args.only_memory:
        mem = {n: peak_mem(n, args.size, args.batch, dev, threads)
               for n in args.models}
        print('peak MiB', mem, flush=True)
        common.update_memory(
            args.out, 'bench_train' + ('_quick' if args.quick else ''),
            'Training iteration', 'peak mem MiB', peers.LABELS, mem,
            MEM_NOTE)
        return
    steps = {n: make_step(n, args.size, args.batch, dev) for n in args.models}
    times = common.interleaved(steps, dev, args.repeats, warmup=1)
    it_ms = {n: common.median(t) * 1e3 for n, t in times.items()}
    print('iteration ms', {k: round(v) for k, v in it_ms.items()}, flush=True)
    del steps
    mem = {}
    if not args.no_memory:
        for n in args.models:
            mem[n] = peak_mem(n, args.size, args.batch, dev, threads)
        print('peak MiB', mem, flush=True)
    base = it_ms['blendmask']
    flops = {}
    if not args.quick:
        flops = {n: count_flops(n, args.size, args.batch)
                 for n in args.models}
        print('forward GFLOPs', flops, flush=True)
    rows = [[peers.LABELS[n], it_ms[n], it_ms[n] / base, base / it_ms[n],
             flops.get(n, float('nan')), mem.get(n, float('nan'))]
            for n in args.models]
    targets = {}
    for ours in common.TRAIN_MODELS:
        for peer, bound, op in common.TRAIN_TARGETS:
            if ours in it_ms and peer in it_ms:
                r = it_ms[ours] / it_ms[peer]
                targets[f'train {ours}/{peer} {op} {bound}'] = dict(
                    value=r, target=bound, met=common.meets(r, bound, op))
    for k, v in targets.items():
        print(f"{k}: {v['value']:.3f} -> {'met' if v['met'] else 'MISSED'}")
    profiles = {}
    for n in (args.profile or []):
        profiles[n] = profile_step(n, args.size, args.batch, dev)
    name = args.name + ('_quick' if args.quick else '')
    os.makedirs(args.out, exist_ok=True)
    for n, table in profiles.items():
        with open(osp.join(args.out, f'{name}_profile_{n}.txt'), 'w') as f:
            f.write(table)
    p = common.plt()
    fig, ax = p.subplots(figsize=(7, 3.5))
    ax.barh([r[0] for r in rows], [r[1] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f'training iteration ms (batch {args.batch}, '
                  f'{args.size[0]}x{args.size[1]}, {dev}, median)')
    fig.tight_layout()
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    common.finish_info(info)
    tables = {'Training iteration': dict(
        columns=['model', 'ms / iteration (median)', 'x BlendMask',
                 'BlendMask / model', 'train fwd GFLOPs', 'peak mem MiB'],
        rows=rows),
        'Targets': dict(columns=['target', 'value', 'met'],
                        rows=[[k, v['value'], v['met']]
                              for k, v in targets.items()])}
    notes = [f'batch {args.batch} random images {args.size[0]}x'
             f'{args.size[1]} with 5 random rectangle GT each; torch threads '
             f'{threads}; {args.repeats} timed rounds after 1 warm-up, '
             'round-robin; forward + backward + SGD step.',
             MEM_NOTE]
    common.write_results(args.out, name, info, tables, dict(
        iteration_ms=it_ms, raw_s=times, fwd_gflops=flops, peak_mem_mib=mem, targets=targets,
        args=vars(args)), notes)


if __name__ == '__main__':
    main()
