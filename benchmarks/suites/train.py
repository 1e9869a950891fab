"""Training step: BlendMask vs FCOS and CondInst, and vs the FLOPs ratio.

BlendMask R-50 (and its width-128 bottom module) vs FCOS and CondInst R-50,
the step time against the FLOPs ratio, and each convolution of the step
replayed alone.

One step (``common.train_step``): batch ``--batch`` random images with 5
random rectangle GT each, forward with losses + backward + SGD, random
init; models interleaved per round (``step/<model>``). GFLOPs: conv/matmul
FLOPs of one training forward, losses included (``train_gflops/<model>``).
Peak memory: peak RSS above the level before one step (after a warm-up
one) in a fresh process per model. Convolutions (``--no-convs`` skips):
every ``nn.Conv2d`` call of one step of BlendMask and FCOS (input shape,
whether its input needs a gradient) replayed alone, forward + backward,
median of 5 (1 with ``--quick``), against its FLOPs (2 x multiply-adds x
(1 + backward passes)), grouped by model part.
"""

import torch
from torch import nn

import common
import peers

ROUNDS = 5
TIMED = True
MODELS = ['blendmask', 'fcos', 'condinst', 'blendmask_w128']
CONV_MODELS = ('blendmask', 'fcos')


def add_arguments(ap):
    ap.add_argument(
        '--size', type=int, nargs=2, default=[512, 768], help='input H W'
    )
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument(
        '--models', nargs='+', default=MODELS, choices=list(peers.CONFIGS)
    )
    ap.add_argument('--no-memory', action='store_true')
    ap.add_argument('--no-convs', action='store_true')


def make_step(name, size, batch, device):
    return common.train_step(peers.load_cfg(name, 0), size, batch, device)


def train_gflops(name, size, batch):
    """GFLOPs of one training forward (losses included) of ``name``."""
    model = common.build_model(peers.load_cfg(name, 0), 'cpu').train()
    inputs, samples = common.fake_batch(
        model, batch, *size, 'cpu', with_gt=True, num_gt=5
    )
    return common.gflops(lambda: model(inputs, samples, mode='loss'))


def part_of(name: str) -> str:
    """Model part of a module name: the mask branch's basis module, its
    semantic head, the rest of the mask head, or the top-level child."""
    if name.startswith('mask_head.basis.'):
        return (
            'semantic head'
            if '.sem' in name[len('mask_head.basis') :]
            else 'basis module'
        )
    return name.split('.')[0]


def conv_calls(step):
    """``[(module name, conv, input shape, input needs grad)]`` of one
    call of ``step`` (a :func:`common.train_step`)."""
    calls, handles = [], []
    for name, m in step.model.named_modules():
        if type(m) is nn.Conv2d:
            handles.append(
                m.register_forward_hook(
                    lambda mod, args, out, name=name: calls.append(
                        (
                            name,
                            mod,
                            tuple(args[0].shape),
                            args[0].requires_grad,
                        )
                    )
                )
            )
    step()
    for h in handles:
        h.remove()
    return calls


def conv_gflop(conv: nn.Conv2d, in_shape, out_shape, input_grad: bool):
    kh, kw = conv.kernel_size
    macs = (
        out_shape[0]
        * out_shape[1]
        * out_shape[2]
        * out_shape[3]
        * in_shape[1]
        // conv.groups
        * kh
        * kw
    )
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


def replay_convs(steps, reps):
    """Tables of the replayed convolutions: by model part, and each conv
    of BlendMask's mask branch."""
    part_rows, conv_rows = [], []
    for n in CONV_MODELS:
        parts = {}
        for name, conv, shape, ig in conv_calls(steps[n]):
            ms, out_shape = time_conv(conv, shape, ig, reps)
            gf = conv_gflop(conv, shape, out_shape, ig)
            part = part_of(name)
            acc = parts.setdefault(part, [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += gf
            acc[2] += ms
            if part in ('basis module', 'semantic head', 'mask_head'):
                conv_rows.append(
                    [
                        name,
                        'x'.join(map(str, shape)),
                        f'{conv.kernel_size[0]}x{conv.kernel_size[1]} '
                        f'd{conv.dilation[0]}',
                        conv.out_channels,
                        gf,
                        ms,
                        gf / ms * 1e3,
                    ]
                )
        part_rows += [
            [peers.LABELS[n], part, k, gf, ms, gf / ms * 1e3]
            for part, (k, gf, ms) in sorted(parts.items())
        ]
    return {
        'Convolutions by model part (forward + backward, replayed alone)':  # noqa: E501
        dict(
            columns=['model', 'part', 'convs', 'GFLOP', 'ms', 'GFLOP/s'],
            rows=part_rows,
        ),
        'BlendMask mask-branch convolutions': dict(
            columns=[
                'module',
                'input',
                'kernel',
                'out ch',
                'GFLOP',
                'ms',
                'GFLOP/s',
            ],
            rows=conv_rows,
        ),
    }


def run(args):
    if args.quick:
        args.size, args.no_memory = [96, 128], True
        if args.models == MODELS:
            args.models = ['blendmask', 'fcos']
    if 'blendmask' not in args.models:
        raise ValueError(
            '--models: blendmask (the base of the ratios) is missing'
        )
    dev, size = args.device, tuple(args.size)
    values = {
        f'train_gflops/{n}': train_gflops(n, size, args.batch)
        for n in args.models
    }
    steps = {n: make_step(n, size, args.batch, dev) for n in args.models}
    t = common.ms(common.interleaved(steps, dev, args.rounds, args.min_timing))
    samples = {f'step/{n}': v for n, v in t.items()}
    print(
        'step ms',
        {n: round(common.median(v)) for n, v in t.items()},
        flush=True,
    )
    tables = {}
    if (
        not args.no_convs
        and dev == 'cpu'
        and set(CONV_MODELS) <= set(args.models)
    ):
        tables.update(replay_convs(steps, 1 if args.quick else 5))
    del steps
    if not args.no_memory:
        for n in args.models:
            values[f'peak_mib/{n}'] = common.child_peak_mib(
                'train',
                'make_step',
                [n, list(size), args.batch, dev],
                dev,
                args.threads,
            )
    base = common.median(samples['step/blendmask'])
    rows = [
        [
            peers.LABELS[n],
            common.median(samples[f'step/{n}']),
            base / common.median(samples[f'step/{n}']),
            values[f'train_gflops/{n}'],
            values.get(f'peak_mib/{n}', float('nan')),
        ]
        for n in args.models
    ]
    tables = {
        'Training step': dict(
            columns=[
                'model',
                'ms / step (median)',
                'BlendMask / model (medians)',
                'train forward GFLOPs',
                'peak mem MiB',
            ],
            rows=rows,
        ),
        **tables,
    }
    return dict(
        tables=tables,
        samples=samples,
        values=values,
        notes=[
            f'batch {args.batch} random {size[0]}x{size[1]} images with 5 '
            'random rectangle GT each; random init; forward + backward + SGD.'
        ],
    )
