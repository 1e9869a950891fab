"""What LVIS's 1203 classes cost BlendMask's training iteration: the LVIS v1
config (configs/lvis/blendmask_r50_fpn_sample1e-3_ms-1x_lvis-v1.py) vs the
80-class COCO one (configs/blendmask_r50_1x.py), the same R-50 model but for
the class count, on the same input.

One iteration = forward with losses + backward + SGD step (bench_train's
step: batch 2 random images, 5 random rectangle GT each, random init).
Times: median of ``--repeats`` rounds, the two models round-robin in one
process. Peak memory: peak RSS increase during one iteration (after a
warm-up one) in a fresh process per model. Where the extra time goes:
torch.profiler self CPU time per (operator, input shapes) of one iteration
of each, the difference split by which class-sized tensor the operator
touches: the box head's classifier/focal loss (1203 channels) or the
semantic head (1204 = classes + background).

    python benchmarks/bench_lvis_classes.py --threads 2 --size 384 576
"""
import argparse
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402

CONFIGS = {
    80: 'configs/blendmask_r50_1x.py',
    1203: 'configs/lvis/blendmask_r50_fpn_sample1e-3_ms-1x_lvis-v1.py',
}


def load_cfg(num_classes):
    from mmengine.config import Config
    cfg = Config.fromfile(common.repo_config(CONFIGS[num_classes]))
    common.strip_init(cfg.model)
    assert cfg.model.bbox_head.num_classes == num_classes
    assert cfg.model.mask_head.basis.num_classes == num_classes
    return cfg


def make_step(num_classes, size, batch, device):
    torch.manual_seed(0)
    return common.train_step(load_cfg(num_classes), size, batch, device)


def peak_mem(num_classes, args):
    cmd = [sys.executable, osp.abspath(__file__), '--mem-child',
           str(num_classes), '--size', *map(str, args.size), '--batch',
           str(args.batch), '--device', args.device, '--threads',
           str(torch.get_num_threads())]
    return common.run_mem_child(cmd, timeout=900)


def self_times(step, rounds):
    """``{(op, shapes): median self CPU ms}`` over ``rounds`` profiled
    iterations (after one unprofiled)."""
    from torch.profiler import ProfilerActivity, profile
    step()
    samples = {}
    for _ in range(rounds):
        with profile(activities=[ProfilerActivity.CPU],
                     record_shapes=True) as prof:
            step()
        for e in prof.key_averages(group_by_input_shape=True):
            samples.setdefault((e.key, str(e.input_shapes)), []).append(
                e.self_cpu_time_total / 1e3)
    return {k: common.median(v + [0.0] * (rounds - len(v)))
            for k, v in samples.items()}


PARTS = ('box classifier conv (C outputs)',
         'focal loss and sigmoid over C (elementwise)',
         'semantic head (C+1 outputs, conv and loss)',
         'rest (no class-sized tensor)')


def part_of(op: str, shapes: str, num_classes: int) -> str:
    """Which class-sized dimension (a whole number in ``shapes``) an
    operator's inputs carry: C+1 is the semantic head's (classes +
    background), C the box classifier's (a convolution) or its focal
    loss's (elementwise ops on ``[points, C]``)."""
    dims = set(re.findall(r'\d+', shapes))
    if str(num_classes + 1) in dims:
        return PARTS[2]
    if str(num_classes) in dims:
        return PARTS[0] if 'conv' in op.lower() else PARTS[1]
    return PARTS[3]


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[384, 576])
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--rows', type=int, default=12)
    ap.add_argument('--profile-rounds', type=int, default=2)
    ap.add_argument('--mem-child', type=int, default=None,
                    help=argparse.SUPPRESS)
    args = common.parse_args(ap, argv)
    if args.mem_child:
        common.setup()
        print('PEAK_MB', common.peak_memory_mib(
            make_step(args.mem_child, args.size, args.batch, args.device),
            args.device))
        return
    if args.quick:
        args.size, args.repeats = [96, 96], 1
    common.setup()
    info = common.machine_info(args.device)
    steps = {c: make_step(c, args.size, args.batch, args.device)
             for c in CONFIGS}
    times = common.interleaved(steps, args.device, args.repeats, warmup=1)
    it_ms = {c: common.median(t) * 1e3 for c, t in times.items()}
    print('iteration ms', {c: round(v) for c, v in it_ms.items()},
          flush=True)
    prof = {c: self_times(steps[c], args.profile_rounds) for c in CONFIGS}
    del steps
    mem = {c: peak_mem(c, args) for c in CONFIGS}
    print('peak MiB', mem, flush=True)

    # profiler attribution: each (operator, shapes) of a model goes to the
    # part whose class-sized dimension its input shapes carry
    parts = {c: dict.fromkeys(PARTS, 0.0) for c in CONFIGS}
    for c in CONFIGS:
        for (op, shapes), v in prof[c].items():
            parts[c][part_of(op, shapes, c)] += v
    total = {c: sum(prof[c].values()) for c in CONFIGS}
    diff = {k: prof[1203][k] - prof[80].get(k, 0.0) for k in prof[1203]}
    top = sorted(diff.items(), key=lambda kv: -kv[1])[:args.rows]

    tables = {
        'Training iteration, 80 vs 1203 classes': dict(
            columns=['classes', 'iteration ms', 'x 80-class',
                     'peak mem MiB', 'mem x 80-class'],
            rows=[[c, it_ms[c], it_ms[c] / it_ms[80], mem[c],
                   mem[c] / mem[80]] for c in CONFIGS]),
        'Profiled self CPU time by part (median of rounds)': dict(
            columns=['part', '80 classes ms', 'share', '1203 classes ms',
                     'share'],
            rows=[[p, parts[80][p], parts[80][p] / total[80],
                   parts[1203][p], parts[1203][p] / total[1203]]
                  for p in PARTS] + [['total', total[80], 1.0, total[1203],
                                      1.0]]),
        'Largest differences by operator and input shapes': dict(
            columns=['operator', 'input shapes (1203-class model)',
                     'ms (1203 - 80)'],
            rows=[[op, shapes[:110], v] for (op, shapes), v in top]),
    }
    name = 'bench_lvis_classes' + ('_quick' if args.quick else '')
    common.finish_info(info)
    common.write_results(
        args.out, name, info, tables,
        dict(iteration_ms=it_ms, peak_mib=mem, profile_total_ms=total),
        [f'batch {args.batch} random {args.size[0]}x{args.size[1]} images, '
         '5 random rectangle GT each, random init; torch threads '
         f'{torch.get_num_threads()}; iteration = median of '
         f'{args.repeats} interleaved rounds after a warm-up; memory: peak '
         'RSS above the level before one iteration (after a warm-up one), '
         'fresh process per model; profile: median over '
         f'{args.profile_rounds} profiled iterations per model (profiler '
         'overhead included; the "rest" of the two models is the same '
         'work, its difference is load noise).'])


if __name__ == '__main__':
    main()
