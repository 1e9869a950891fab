"""Where BlendMask's training iteration spends time beyond FCOS's.

torch.profiler on one training iteration of each model (the
``bench_train.py`` step: batch 2 random images with 5 random rectangle GT,
forward with losses + backward + SGD), self CPU time per (operator, input
shapes), median over ``--rounds`` profiled iterations after two warm-up
ones; then the difference ``ours - base`` by operator and by (operator,
shapes), split into convolutions (``*conv*`` operators) and everything else.

    python benchmarks/profile_train_diff.py --threads 1 --size 320 320
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import bench_train  # noqa: E402
import common  # noqa: E402
import peers  # noqa: E402


def self_times(name, size, device, rounds):
    """``{(op, shapes): median self ms}`` of one training iteration and
    ``{(op, shapes): calls}``."""
    from torch.profiler import ProfilerActivity, profile
    step = bench_train.make_step(name, size, 2, device)
    step()
    step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA]
                                     if device == 'cuda' else [])
    samples, calls = {}, {}
    for _ in range(rounds):
        with profile(activities=acts, record_shapes=True) as prof:
            step()
        for e in prof.key_averages(group_by_input_shape=True):
            key = (e.key, str(e.input_shapes))
            samples.setdefault(key, []).append(e.self_cpu_time_total / 1e3)
            calls[key] = e.count
    # an (op, shapes) missing from a round took 0 ms there
    return {k: common.median(v + [0.0] * (rounds - len(v)))
            for k, v in samples.items()}, calls


def is_conv(op: str) -> bool:
    return 'conv' in op.lower()


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[320, 320])
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--models', nargs=2, default=['blendmask', 'fcos'],
                    metavar=('OURS', 'BASE'))
    ap.add_argument('--rows', type=int, default=25)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.size, args.rounds = [96, 96], 1
    common.setup()
    info = common.machine_info(args.device)
    ours, base = args.models
    t_ours, c_ours = self_times(ours, args.size, args.device, args.rounds)
    t_base, c_base = self_times(base, args.size, args.device, args.rounds)
    keys = set(t_ours) | set(t_base)
    diff = {k: t_ours.get(k, 0.0) - t_base.get(k, 0.0) for k in keys}
    total_ours, total_base = sum(t_ours.values()), sum(t_base.values())
    conv = sum(v for k, v in diff.items() if is_conv(k[0]))
    by_op = {}
    for (op, _), v in diff.items():
        by_op[op] = by_op.get(op, 0.0) + v
    top_ops = sorted(by_op.items(), key=lambda kv: -abs(kv[1]))[:args.rows]
    top_shapes = sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:args.rows]
    la, lb = peers.LABELS[ours], peers.LABELS[base]
    tables = {
        'Totals (self CPU ms of one iteration, median of rounds)': dict(
            columns=['', 'ms', f'x {lb}'],
            rows=[[la, total_ours, total_ours / total_base],
                  [lb, total_base, 1.0],
                  ['difference: convolutions', conv, conv / total_base],
                  ['difference: everything else', total_ours - total_base -
                   conv, (total_ours - total_base - conv) / total_base]]),
        'Difference by operator': dict(
            columns=['operator', 'ms (ours - base)'],
            rows=[[op, v] for op, v in top_ops]),
        'Difference by operator and input shapes': dict(
            columns=['operator', 'input shapes', 'ms (ours - base)',
                     'calls (ours / base)'],
            rows=[[op, shapes[:120], v,
                   f'{c_ours.get((op, shapes), 0)} / '
                   f'{c_base.get((op, shapes), 0)}']
                  for (op, shapes), v in top_shapes]),
    }
    name = 'profile_train_diff' + ('_quick' if args.quick else '')
    os.makedirs(args.out, exist_ok=True)
    p = common.plt()
    fig, ax = p.subplots(figsize=(7, 4))
    ops = top_ops[:12]
    ax.barh([op[:40] for op, _ in ops], [v for _, v in ops])
    ax.invert_yaxis()
    ax.set_xlabel(f'self CPU ms, {ours} - {base} (one iteration)')
    fig.tight_layout()
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    common.finish_info(info)
    common.write_results(
        args.out, name, info, tables,
        dict(total_ms={ours: total_ours, base: total_base},
             conv_diff_ms=conv),
        [f'batch 2 random {args.size[0]}x{args.size[1]} images, 5 random '
         f'rectangle GT each; torch threads {torch.get_num_threads()}; '
         f'{args.rounds} profiled iterations per model after 2 warm-up '
         'ones; self CPU time (profiler overhead included, so totals '
         'exceed bench_train times).'])
    print(f'{ours} {total_ours:.0f} ms, {base} {total_base:.0f} ms, '
          f'difference {total_ours - total_base:.0f} ms of which '
          f'convolutions {conv:.0f} ms')


if __name__ == '__main__':
    main()
