"""Inference speed of a trained model on its test images, on CPU or GPU:

    python tools/analysis_tools/benchmark.py CONFIG CHECKPOINT [--device cpu] \
        [--max-iter 200] [--num-warmup 5] [--log-interval 50]

mmdet's ``tools/analysis_tools/benchmark.py --task inference`` measures the
same (batch 1, ``test_step`` on the test dataloader's images, warm-up
images not timed) but needs CUDA (it calls ``model.cuda()`` and
``torch.cuda.synchronize()``); its ``--task dataloader`` and ``--task
dataset`` run as they are on mmblend's configs (they need ``psutil``:
``pip install -e .[tools]``). Prints images/s and ms/image; the threads
torch uses on CPU are ``torch.get_num_threads()`` (``OMP_NUM_THREADS``).
"""

import argparse
import os.path as osp
import sys
import time

_REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import torch  # noqa: E402
from mmdet.apis import init_detector  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmblend  # noqa: E402,F401
from mmblend.engine.checkpoint_fit import (  # noqa: E402
    add_allow_partial_arg,
    check_or_exit,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--max-iter',
        type=int,
        default=200,
        help='images run, warm-up included',
    )
    parser.add_argument('--num-warmup', type=int, default=5)
    parser.add_argument('--log-interval', type=int, default=50)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    add_allow_partial_arg(parser)
    return parser.parse_args(argv)


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.max_iter <= args.num_warmup:
        sys.exit('error: --max-iter must be larger than --num-warmup')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = init_detector(cfg, args.checkpoint, device=args.device)
    check_or_exit(model, args.checkpoint, args.allow_partial_checkpoint)
    cfg.test_dataloader.update(
        batch_size=1, num_workers=0, persistent_workers=False
    )
    loader = Runner.build_dataloader(cfg.test_dataloader)
    timed, seconds = 0, 0.0
    for i, data in enumerate(loader):
        if i == args.max_iter:
            break
        _sync(args.device)
        start = time.perf_counter()
        with torch.no_grad():
            model.test_step(data)
        _sync(args.device)
        if i >= args.num_warmup:
            timed, seconds = timed + 1, seconds + time.perf_counter() - start
            if timed % args.log_interval == 0:
                print(f'image {i + 1}: {timed / seconds:.2f} img/s')
    if timed == 0:
        sys.exit(
            f'error: the test set has {i + 1} images, not more than '
            f'--num-warmup {args.num_warmup}'
        )
    result = dict(
        fps=timed / seconds,
        ms_per_img=1000 * seconds / timed,
        images=timed,
        device=args.device,
        threads=torch.get_num_threads(),
    )
    print(
        f"Overall fps: {result['fps']:.2f} img/s, times per image: "
        f"{result['ms_per_img']:.1f} ms/img ({timed} images after "
        f'{args.num_warmup} warm-up, {args.device}, '
        f"{result['threads']} threads)"
    )
    return result


if __name__ == '__main__':
    main()
