"""Before/after of running BlendMask's top layer only at the detections.

Times ``BlendMask R50`` inference (100 forced detections) with the dense
top layer (mmdet's stock ``BaseDenseHead.predict`` path) and with mmblend's
``BlendMaskHead.predict`` (top layer at the final detections), interleaved,
and checks that both give the same detections and masks.

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
               load_average=os.getloadavg())
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'top_layer_fix.json'), 'w') as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
