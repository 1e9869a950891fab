"""Before/after of running BlendMask's top layer only where it is used.

Inference: times ``BlendMask R50`` (100 forced detections) with the dense
top layer (mmdet's stock ``BaseDenseHead.predict`` path) and with mmblend's
``BlendMaskHead.predict`` (top layer at the final detections), interleaved,
and checks that both give the same detections and masks.

Training (``--train-size``, batch 2, 5 random boxes per image): one
iteration (losses + backward) with the dense top layer (stock
``BaseDenseHead.loss``) and with ``BlendMaskHead.loss`` (top layer at the
FCOS positives only), interleaved; checks equal losses and gradients.

    python benchmarks/bench_top_layer_fix.py --size 512 768 --repeats 3
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead  # noqa
from mmdet.registry import MODELS  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

import mmblend  # noqa: E402,F401
from mmblend.models import BlendMaskHead  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--size', type=int, nargs=2, default=(512, 768))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--train-size', type=int, nargs=2,
                        default=(320, 320))
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', default=osp.join('benchmarks', 'results'))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    register_all_modules()
    cfg = Config.fromfile('configs/blendmask_r50_1x.py')
    cfg.model.backbone.init_cfg = None
    cfg.model.test_cfg.update(score_thr=0.0, max_per_img=100,
                              nms=dict(type='nms', iou_threshold=1.0))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    model.init_weights()
    h, w = args.size
    inputs = torch.randn(1, 3, h, w)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1.0, 1.0))
    sparse_predict = BlendMaskHead.predict

    def run(dense):
        BlendMaskHead.predict = BaseDenseHead.predict if dense else \
            sparse_predict
        try:
            with torch.no_grad():
                t = time.perf_counter()
                res = model.predict(inputs, [DetDataSample(metainfo=meta)])
                return time.perf_counter() - t, res[0].pred_instances
        finally:
            BlendMaskHead.predict = sparse_predict

    times = dict(dense=[], sparse=[])
    run(False)  # warm-up
    for _ in range(args.repeats):
        for mode in ('dense', 'sparse'):
            t, pred = run(mode == 'dense')
            times[mode].append(t)
            if mode == 'dense':
                ref = pred
            else:
                same_boxes = torch.equal(ref.bboxes, pred.bboxes) and \
                    torch.equal(ref.labels, pred.labels)
                mask_diff = int((ref.masks != pred.masks).sum())
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    out = dict(size=args.size, threads=args.threads, dets=len(ref),
               seconds=times, median=med,
               ratio_sparse_over_dense=med['sparse'] / med['dense'],
               identical_boxes_and_labels=same_boxes,
               differing_mask_pixels=mask_diff,
               train=train_before_after(model.train(), args),
               load_average=os.getloadavg())
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'top_layer_fix.json'), 'w') as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


def train_before_after(model, args) -> dict:
    """Losses + backward, dense vs sparse top layer, interleaved."""
    inputs, samples = common.fake_batch(model, 2, *args.train_size, 'cpu',
                                        with_gt=True, num_gt=5)
    sparse_loss = BlendMaskHead.loss

    def run(dense):
        BlendMaskHead.loss = BaseDenseHead.loss if dense else sparse_loss
        try:
            model.zero_grad()
            t = time.perf_counter()
            losses = model(inputs, samples, mode='loss')
            model.parse_losses(losses)[0].backward()
            t = time.perf_counter() - t
        finally:
            BlendMaskHead.loss = sparse_loss
        grad = model.bbox_head.top_layer.weight.grad.clone()
        return t, {k: float(v) for k, v in losses.items()}, grad

    times = dict(dense=[], sparse=[])
    run(False)  # warm-up
    for _ in range(args.repeats):
        for mode in ('dense', 'sparse'):
            t, losses, grad = run(mode == 'dense')
            times[mode].append(t)
            if mode == 'dense':
                ref_losses, ref_grad = losses, grad
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return dict(size=args.train_size, batch=2, seconds=times, median=med,
                ratio_sparse_over_dense=med['sparse'] / med['dense'],
                losses_dense=ref_losses, losses_sparse=losses,
                top_layer_grad_max_abs_diff=float(
                    (grad - ref_grad).abs().max()),
                top_layer_grad_max_abs=float(ref_grad.abs().max()))


if __name__ == '__main__':
    main()
