"""Deterministic cost of the benchmarked models: forward GFLOPs (2 x
multiply-adds of convolutions / matmuls, torch.utils.flop_counter; custom
ops such as RoIAlign and grid_sample are not counted) of one inference with
100 forced detections, noise-free where the shared-CPU timings are not.

    python benchmarks/count_flops.py [--size 512 768]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, nargs=2, default=[512, 768])
    ap.add_argument('--out', default=osp.join(common.REPO_ROOT, 'benchmarks',
                                              'results'))
    args = ap.parse_args(argv)
    common.setup()
    from torch.utils.flop_counter import FlopCounterMode

    from bench_inference import get_model, make_runner
    H, W = args.size
    res = {}
    for name in ('blendmask', 'mask_rcnn', 'condinst', 'yolact', 'fcos',
                 'blendmask_rt', 'yolact550'):
        model = get_model(name, 'cpu')
        size = (550, 550) if name in ('blendmask_rt', 'yolact550') else (H, W)
        run = make_runner(model, *size, 'cpu')
        with FlopCounterMode(display=False) as fc:
            run()
        res[name] = dict(size=list(size), gflops=fc.get_total_flops() / 1e9)
        if name == 'blendmask':
            top = model.bbox_head.top_layer
            sizes = [(-(-H // s), -(-W // s)) for s in (8, 16, 32, 64, 128)]
            res[name]['top_layer_gflops'] = sum(
                2 * h * w * top.in_channels * 9 * top.out_channels
                for h, w in sizes) / 1e9
        print(name, res[name], flush=True)
    base = res['blendmask']['gflops']
    info = common.finish_info(common.machine_info('cpu'))
    rows = [[k, f"{v['size'][0]}x{v['size'][1]}", v['gflops'],
             v['gflops'] / base] for k, v in res.items()]
    os.makedirs(args.out, exist_ok=True)
    common.write_results(args.out, 'count_flops', info, {
        'Inference GFLOPs (100 detections)': dict(
            columns=['model', 'input', 'GFLOPs', 'x BlendMask'],
            rows=rows)}, dict(results=res), [
        'conv/matmul FLOPs only (flop_counter); RoIAlign, grid_sample, NMS '
        'not counted. BlendMask runs its top layer (3x3 conv 256->784) at '
        'the 100 detections only; run densely on all FPN locations it would '
        f"add {res['blendmask']['top_layer_gflops']:.1f} GFLOPs."])


if __name__ == '__main__':
    main()
