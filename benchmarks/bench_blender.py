"""Blender vs Mask R-CNN's mask path as the number of detections grows.

* BlendMask: ``Blender`` (R=56, K=4, M=14, RoIAlign, bilinear) on bases
  ``[1, 4, H/8, W/8]`` with attentions ``[n, 784]``.
* Mask R-CNN: mmdet's ``SingleRoIExtractor`` (mmcv RoIAlign 14x14 on the 4
  FPN levels P2-P5, 256 ch) + ``FCNMaskHead`` forward (4 convs, deconv,
  80-class logits).
* Paste: our ``paste_masks`` (n x 56x56 probabilities) vs mmdet's
  ``FCNMaskHead._predict_by_feat_single`` (n x 80 x 28x28 logits, class
  selection, sigmoid, ``_do_paste_mask``, threshold) at the original image
  size (= the input size here, scale factor 1).

    python benchmarks/bench_blender.py [--device cuda] [--quick]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import torch  # noqa: E402

import common  # noqa: E402

NUMS = [1, 10, 100, 200, 300, 1000]


def random_boxes(n, h, w, g):
    cx = torch.rand(n, generator=g) * w
    cy = torch.rand(n, generator=g) * h
    bw = 16 + torch.rand(n, generator=g) * (w / 2)
    bh = 16 + torch.rand(n, generator=g) * (h / 2)
    return torch.stack([(cx - bw / 2).clamp(0, w - 2), (cy - bh / 2).clamp(0, h - 2),
                        (cx + bw / 2).clamp(2, w), (cy + bh / 2).clamp(2, h)], 1)


def build(device):
    from mmdet.registry import MODELS
    blender = MODELS.build(dict(type='Blender', num_bases=4, attn_size=14,
                                bottom_resolution=56, bases_stride=8,
                                pooler='RoIAlign', sampling_ratio=1,
                                top_interp='bilinear')).to(device).eval()
    extractor = MODELS.build(dict(
        type='SingleRoIExtractor',
        roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
        out_channels=256, featmap_strides=[4, 8, 16, 32])).to(device).eval()
    head = MODELS.build(dict(
        type='FCNMaskHead', num_convs=4, in_channels=256,
        conv_out_channels=256, num_classes=80,
        loss_mask=dict(type='CrossEntropyLoss', use_mask=True,
                       loss_weight=1.0))).to(device).eval()
    head.init_weights()
    return blender, extractor, head


def main(argv=None):
    ap = common.arg_parser(__doc__)
    ap.add_argument('--size', type=int, nargs=2, default=[800, 1216],
                    help='input H W')
    ap.add_argument('--nums', type=int, nargs='+', default=NUMS)
    args = common.parse_args(ap, argv)
    if args.quick:
        args.size, args.nums = [128, 192], [1, 10, 20]
    common.setup()
    from mmengine.config import ConfigDict

    from mmblend.models.dense_heads.blendmask_mask_head import paste_masks
    dev = args.device
    info = common.machine_info(dev)
    H, W = args.size
    g = torch.Generator().manual_seed(0)
    blender, extractor, head = build(dev)
    bases = torch.randn(1, 4, H // 8, W // 8, generator=g).to(dev)
    fpn = tuple(torch.randn(1, 256, H // s, W // s, generator=g).to(dev)
                for s in (4, 8, 16, 32))
    meta = dict(ori_shape=(H, W), img_shape=(H, W),
                scale_factor=(1.0, 1.0))
    rcnn_cfg = ConfigDict(mask_thr_binary=0.5)
    res = {}
    for n in args.nums:
        boxes = random_boxes(n, H, W, g).to(dev)
        rois = torch.cat([boxes.new_zeros(n, 1), boxes], 1)
        attns = torch.randn(n, 4 * 14 * 14, generator=g).to(dev)
        probs = torch.rand(n, 56, 56, generator=g).to(dev)
        mask_logits = torch.randn(n, 80, 28, 28, generator=g).to(dev)
        labels = torch.randint(0, 80, (n, ), generator=g).to(dev)

        def f_blender():
            blender(bases, attns, rois)

        def f_maskrcnn():
            head(extractor(fpn, rois))

        def f_paste_ours():
            paste_masks(probs, boxes, H, W, 0.5)

        def f_paste_mmdet():
            head._predict_by_feat_single(mask_logits, boxes, labels, meta,
                                         rcnn_cfg, rescale=True)

        if args.quick:
            repeats, inner = 1, 1
        else:
            repeats = 7 if n <= 10 else 5 if n <= 100 else 3 if n <= 300 \
                else 2
            inner = 3
        with torch.no_grad():
            # Round-robin: each round runs the (slow) Mask R-CNN head once
            # and each cheap function ``inner`` times, in rotated order, so
            # all see the same load; medians over all samples.
            cheap = dict(blender=f_blender, paste_ours=f_paste_ours,
                         paste_mmdet=f_paste_mmdet)
            for f in cheap.values():
                f()
            if n == args.nums[0] or n <= 10:
                f_maskrcnn()
            t = {k: [] for k in ('maskrcnn_head', *cheap)}
            for r in range(repeats):
                t['maskrcnn_head'].append(common.timeit(f_maskrcnn, dev))
                names = list(cheap)
                for i in range(inner):
                    k = (r + i) % len(names)
                    for name in names[k:] + names[:k]:
                        t[name].append(common.timeit(cheap[name], dev))
        res[n] = {k: common.median(v) * 1e3 for k, v in t.items()}
        print(n, {k: round(v, 3) for k, v in res[n].items()}, flush=True)

    nums = args.nums
    rows = [[n, res[n]['blender'], res[n]['maskrcnn_head'],
             res[n]['maskrcnn_head'] / res[n]['blender'],
             res[n]['paste_ours'], res[n]['paste_mmdet'],
             res[n]['blender'] + res[n]['paste_ours'],
             res[n]['maskrcnn_head'] + res[n]['paste_mmdet']] for n in nums]
    lo, hi = nums[1] if len(nums) > 1 else nums[0], nums[-1]
    summary = dict(
        blender_scaling=res[hi]['blender'] / res[lo]['blender'],
        maskrcnn_scaling=res[hi]['maskrcnn_head'] / res[lo]['maskrcnn_head'],
        paste_ours_scaling=res[hi]['paste_ours'] / res[lo]['paste_ours'],
        scaling_between=[lo, hi])
    ref = 200 if 200 in res else nums[len(nums) // 2]
    summary['ratio_at'] = ref
    summary['blender_over_maskrcnn'] = (res[ref]['blender'] /
                                       res[ref]['maskrcnn_head'])
    summary['target_blender_le_1_50_of_maskrcnn'] = \
        summary['blender_over_maskrcnn'] <= 1 / 50
    print(f"time({hi})/time({lo}): blender {summary['blender_scaling']:.1f}, "
          f"mask R-CNN head {summary['maskrcnn_scaling']:.1f}, "
          f"our paste {summary['paste_ours_scaling']:.1f}")
    print(f"blender / mask R-CNN head at {ref} dets: "
          f"{summary['blender_over_maskrcnn']:.4f} "
          f"(1/{1 / summary['blender_over_maskrcnn']:.0f}; target <= 1/50: "
          f"{'met' if summary['target_blender_le_1_50_of_maskrcnn'] else 'MISSED'})")

    name = 'bench_blender' + ('_quick' if args.quick else '')
    p = common.plt()
    fig, ax = p.subplots(figsize=(7, 4.5))
    for key, label in (('blender', 'BlendMask blender (56_4_14)'),
                       ('maskrcnn_head', 'Mask R-CNN RoIAlign + FCN head'),
                       ('paste_ours', 'paste: mmblend paste_masks'),
                       ('paste_mmdet', 'paste: mmdet FCNMaskHead')):
        ax.plot(nums, [res[n][key] for n in nums], 'o-', label=label)
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('detections per image')
    ax.set_ylabel(f'ms ({dev}, median)')
    ax.set_title(f'Mask path time vs detections, {H}x{W} input')
    ax.grid(alpha=.3, which='both')
    ax.legend(fontsize=8)
    fig.tight_layout()
    import os
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(osp.join(args.out, f'{name}.png'), dpi=90)
    p.close(fig)
    common.finish_info(info)
    tables = {'Mask path time (ms, median) vs detections': dict(
        columns=['dets', 'blender', 'Mask R-CNN head', 'head / blender',
                 'paste (ours)', 'paste (mmdet)', 'blender + paste',
                 'Mask R-CNN head + paste'], rows=rows)}
    notes = [f'input {H}x{W}; bases [1, 4, {H // 8}, {W // 8}]; FPN P2-P5 '
             '256 ch; random boxes (16 px to half the image per side); '
             'masks pasted at the input size (scale 1); torch.no_grad; '
             'timed round-robin (each round: the Mask R-CNN head once, each cheap function 3 times); medians.',
             f"time({hi})/time({lo}): blender "
             f"{summary['blender_scaling']:.1f}x, Mask R-CNN head "
             f"{summary['maskrcnn_scaling']:.1f}x",
             f"blender / Mask R-CNN head at {ref}: "
             f"{summary['blender_over_maskrcnn']:.4f} (target <= 0.02: "
             f"{'met' if summary['target_blender_le_1_50_of_maskrcnn'] else 'missed'})"]
    common.write_results(args.out, name, info, tables,
                         dict(results_ms={str(k): v for k, v in res.items()},
                              summary=summary, args=vars(args)), notes)
    return res, summary


if __name__ == '__main__':
    main()
