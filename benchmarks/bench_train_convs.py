"""BlendMask's training step over FCOS's, at 1 and 2 torch threads: the
step-time ratio against the FLOPs ratio, and each convolution's forward +
backward time against its FLOPs.

For each thread count: (1) one training step of each model (bench_train's:
batch 2 random images with 5 random rectangle GT, forward with losses +
backward + SGD), interleaved rounds, median; (2) every ``nn.Conv2d`` call of
one step (input shape, whether its input needs a gradient) replayed alone:
forward + backward (input gradient where the step computes one, weight
gradient where the weight trains), median of ``--conv-reps``. A conv's
FLOPs are 2 x multiply-adds x (1 + backward passes); GFLOP/s is its
efficiency. Convs are grouped by the model part that owns them.

    python benchmarks/bench_train_convs.py --size 512 768 --thread-counts 1 2
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402
from torch import nn  # noqa: E402

import bench_train  # noqa: E402
import common  # noqa: E402
import peers  # noqa: E402

MODELS = ('blendmask', 'fcos')


def part_of(name: str) -> str:
    """Model part of a module name: the mask branch's basis module, its
    semantic head, the rest of the mask head, or the top-level child."""
    if name.startswith('mask_head.basis.'):
        return ('semantic head' if '.sem' in name[len('mask_head.basis'):]
                else 'basis module')
    return name.split('.')[0]


def conv_calls(step):
    """``[(module name, conv, input shape, input needs grad)]`` of one
    call of ``step`` (a :func:`common.train_step`)."""
    calls, handles = [], []
    for name, m in step.model.named_modules():
        if type(m) is nn.Conv2d:
            handles.append(m.register_forward_hook(
                lambda mod, args, out, name=name: calls.append(
                    (name, mod, tuple(args[0].shape),
                     args[0].requires_grad))))
    step()
    for h in handles:
        h.remove()
    return calls


def conv_gflop(conv: nn.Conv2d, in_shape, out_shape, input_grad: bool):
    kh, kw = conv.kernel_size
    macs = (out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3] *
            in_shape[1] // conv.groups * kh * kw)
    passes = 1 + int(input_grad) + int(conv.weight.requires_grad)
    return 2 * macs * passes / 1e9


def time_conv(conv, in_shape, input_grad, reps):
    """Median ms of ``conv``'s forward + backward on a random input, and
    its output shape."""
    x = torch.randn(in_shape, requires_grad=input_grad)
    with torch.no_grad():
        out_shape = tuple(conv(x).shape)
    gy = torch.randn(out_shape)

    def fn():
        y = conv(x)
        if input_grad or conv.weight.requires_grad:
            y.backward(gy)
    fn()
    ms = common.median([common.timeit(fn, 'cpu') for _ in range(reps)])
    return ms * 1e3, out_shape


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[512, 768])
    ap.add_argument('--thread-counts', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--repeats', type=int, default=6)
    ap.add_argument('--conv-reps', type=int, default=5)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.size, args.repeats, args.conv_reps = [96, 128], 1, 1
    common.setup()
    info = common.machine_info('cpu')
    size = tuple(args.size)
    gflops = {n: bench_train.count_flops(n, size, 2) for n in MODELS}
    flops_ratio = gflops['blendmask'] / gflops['fcos']
    steps = {n: bench_train.make_step(n, size, 2, 'cpu') for n in MODELS}
    calls = {n: conv_calls(step) for n, step in steps.items()}
    step_rows, conv_rows, part_rows, result = [], [], [], {}
    for threads in args.thread_counts:
        torch.set_num_threads(threads)
        t = common.interleaved(steps, 'cpu', args.repeats)
        med = {n: common.median(v) for n, v in t.items()}
        ratio = med['blendmask'] / med['fcos']
        step_rows.append([threads, med['blendmask'] * 1e3,
                          med['fcos'] * 1e3, ratio, flops_ratio,
                          ratio / flops_ratio - 1,
                          abs(ratio / flops_ratio - 1) <= 0.05])
        result[threads] = dict(step_s=med, ratio=ratio, convs=[])
        parts = {}
        for n in MODELS:
            for name, conv, shape, ig in calls[n]:
                ms, out_shape = time_conv(conv, shape, ig, args.conv_reps)
                gf = conv_gflop(conv, shape, out_shape, ig)
                part = part_of(name)
                acc = parts.setdefault((n, part), [0.0, 0.0, 0])
                acc[0] += ms
                acc[1] += gf
                acc[2] += 1
                result[threads]['convs'].append(dict(
                    model=n, module=name, in_shape=shape, gflop=gf, ms=ms))
                if n == 'blendmask' and part in ('basis module',
                                                 'semantic head',
                                                 'mask_head'):
                    conv_rows.append([
                        threads, name, 'x'.join(map(str, shape)),
                        f'{conv.kernel_size[0]}x{conv.kernel_size[1]}'
                        f' d{conv.dilation[0]}', conv.out_channels, gf, ms,
                        gf / ms * 1e3])
        for (n, part), (ms, gf, k) in sorted(parts.items()):
            part_rows.append([threads, peers.LABELS[n], part, k, gf, ms,
                              gf / ms * 1e3])
    tables = {
        'Training step: BlendMask R50 / FCOS R50 vs the FLOPs ratio': dict(
            columns=['threads', 'BlendMask ms', 'FCOS ms', 'time ratio',
                     'FLOPs ratio', 'excess', 'within 5%'],
            rows=step_rows),
        'Convolutions by model part (forward + backward, replayed alone)':
        dict(columns=['threads', 'model', 'part', 'convs', 'GFLOP', 'ms',
                      'GFLOP/s'], rows=part_rows),
        'BlendMask mask-branch convolutions': dict(
            columns=['threads', 'module', 'input', 'kernel', 'out ch',
                     'GFLOP', 'ms', 'GFLOP/s'], rows=conv_rows),
    }
    name = 'bench_train_convs' + ('_quick' if args.quick else '')
    p = common.plt()
    fig, axes = p.subplots(1, len(args.thread_counts), squeeze=False,
                           figsize=(5.5 * len(args.thread_counts), 4))
    for ax, threads in zip(axes[0], args.thread_counts):
        for n in MODELS:
            cs = [c for c in result[threads]['convs'] if c['model'] == n]
            ax.scatter([c['gflop'] for c in cs], [c['ms'] for c in cs],
                       s=12, label=peers.LABELS[n])
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel('GFLOP (forward + backward)')
        ax.set_ylabel('ms')
        ax.set_title(f'each conv, {threads} thread(s)')
        ax.legend(fontsize=7)
        ax.grid(alpha=.3)
    fig.tight_layout()
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    common.finish_info(info)
    common.write_results(
        args.out, name, info, tables,
        dict(gflops_forward=gflops, results=result), [
            f'batch 2 random {size[0]}x{size[1]} images, 5 random rectangle '
            f'GT each, random init; step: median of {args.repeats} '
            'interleaved rounds after a warm-up; convs: median of '
            f'{args.conv_reps} replays each after a warm-up.',
            'FLOPs ratio: forward conv/linear FLOPs of one training '
            'forward (bench_train.count_flops); target: time ratio within '
            '5% of it at every thread count.'])
    for r in step_rows:
        print(f'threads {r[0]}: BlendMask {r[1]:.0f} ms, FCOS {r[2]:.0f} '
              f'ms, ratio {r[3]:.3f} vs FLOPs {r[4]:.3f}')


if __name__ == '__main__':
    main()
