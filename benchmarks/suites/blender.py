"""The blender vs Mask R-CNN's mask head (mask path; two-stage branch).

The mask path as detections grow, and the blender mask head in Mask R-CNN
vs ``FCNMaskHead``.

Part 1, mask path vs detections (``--nums``), at ``--size``:

* ``blender``: ``Blender`` (R=56, K=4, M=14, RoIAlign, bilinear) on bases
  ``[1, 4, H/8, W/8]`` with attentions ``[n, 784]``;
* ``maskrcnn_head``: mmdet's ``SingleRoIExtractor`` (mmcv RoIAlign 14x14 on
  P2-P5, 256 ch) + ``FCNMaskHead`` forward (4 convs, deconv, 80-class
  logits);
* ``paste_ours`` / ``paste_mmdet``: our ``paste_masks`` (n x 56x56
  probabilities) vs ``FCNMaskHead._predict_by_feat_single`` (n x 80 x 28x28
  logits, class selection, sigmoid, paste, threshold) at the input size.

Each round runs the (slow) Mask R-CNN head once and each cheap function 3
times in rotated order; a round's value of a cheap function is the median
of its 3.

Part 2, Mask R-CNN's mask branch (``--rois``): both RoI heads built from
their configs (mmdet's ``mask-rcnn_r50_fpn_1x_coco.py``, our
``configs/mixing/mask-rcnn_r50_fpn_blender_1x_coco.py``) on the same random
R-50 FPN outputs (P2-P6, 256 ch) and RoIs, interleaved rounds:
``roi_feats`` (the shared mask RoIAlign), ``fcn_head`` (``FCNMaskHead`` on
those features), ``blend_head`` (``BlendRoIMaskHead`` on the same features,
bases included: DeepLabV3+ on P3+P5 once per image + attentions +
blender), ``bases`` alone, and ``*_predict_mask`` (``roi_head.predict_mask``:
extractor + head + mmdet's paste). GFLOPs of each head (flop_counter).
Cascade Mask R-CNN (mmdet's ``cascade-mask-rcnn_r50_fpn_1x_coco.py`` vs our
``configs/mixing/cascade-mask-rcnn_r50_fpn_blender_1x_coco.py``): the three
stages' mask heads on the same RoI features, ``cascade_fcn`` (3 x
``FCNMaskHead``) vs ``cascade_blend`` (the bases once + 3 attention
predictors and blenders).
"""

import copy

import torch

import common

ROUNDS = 5
TIMED = True
STOCK = 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
OURS = 'configs/mixing/mask-rcnn_r50_fpn_blender_1x_coco.py'
CASCADE_STOCK = 'cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
CASCADE_OURS = 'configs/mixing/cascade-mask-rcnn_r50_fpn_blender_1x_coco.py'


def add_arguments(ap):
    ap.add_argument(
        '--size', type=int, nargs=2, default=[800, 1216], help='input H W'
    )
    ap.add_argument(
        '--nums',
        type=int,
        nargs='+',
        default=[1, 10, 100, 200, 300, 1000],
        help='detections per image (part 1)',
    )
    ap.add_argument(
        '--rois',
        type=int,
        nargs='+',
        default=[100, 200],
        help='RoIs per image (part 2)',
    )


def random_boxes(n, h, w, g):
    cx = torch.rand(n, generator=g) * w
    cy = torch.rand(n, generator=g) * h
    bw = 16 + torch.rand(n, generator=g) * (w / 2)
    bh = 16 + torch.rand(n, generator=g) * (h / 2)
    return torch.stack(
        [
            (cx - bw / 2).clamp(0, w - 2),
            (cy - bh / 2).clamp(0, h - 2),
            (cx + bw / 2).clamp(2, w),
            (cy + bh / 2).clamp(2, h),
        ],
        1,
    )


def build_mask_path(device):
    from mmdet.registry import MODELS

    blender = (
        MODELS.build(
            dict(
                type='Blender',
                num_bases=4,
                attn_size=14,
                bottom_resolution=56,
                bases_stride=8,
                pooler='RoIAlign',
                sampling_ratio=1,
                top_interp='bilinear',
            )
        )
        .to(device)
        .eval()
    )
    extractor = (
        MODELS.build(
            dict(
                type='SingleRoIExtractor',
                roi_layer=dict(
                    type='RoIAlign', output_size=14, sampling_ratio=0
                ),
                out_channels=256,
                featmap_strides=[4, 8, 16, 32],
            )
        )
        .to(device)
        .eval()
    )
    head = (
        MODELS.build(
            dict(
                type='FCNMaskHead',
                num_convs=4,
                in_channels=256,
                conv_out_channels=256,
                num_classes=80,
                loss_mask=dict(
                    type='CrossEntropyLoss', use_mask=True, loss_weight=1.0
                ),
            )
        )
        .to(device)
        .eval()
    )
    head.init_weights()
    return blender, extractor, head


def mask_path(args, g):
    """Part 1: per-round ms of each function at each number of
    detections (keys ``<function>@<n>``)."""
    from mmengine.config import ConfigDict

    from mmblend.models.dense_heads.blendmask_mask_head import paste_masks

    dev = args.device
    H, W = args.size
    blender, extractor, head = build_mask_path(dev)
    bases = torch.randn(1, 4, H // 8, W // 8, generator=g).to(dev)
    fpn = tuple(
        torch.randn(1, 256, H // s, W // s, generator=g).to(dev)
        for s in (4, 8, 16, 32)
    )
    meta = dict(ori_shape=(H, W), img_shape=(H, W), scale_factor=(1.0, 1.0))
    rcnn_cfg = ConfigDict(mask_thr_binary=0.5)
    inner = 1 if args.quick else 3
    samples = {}
    for n in args.nums:
        boxes = random_boxes(n, H, W, g).to(dev)
        rois = torch.cat([boxes.new_zeros(n, 1), boxes], 1)
        attns = torch.randn(n, 4 * 14 * 14, generator=g).to(dev)
        probs = torch.rand(n, 56, 56, generator=g).to(dev)
        mask_logits = torch.randn(n, 80, 28, 28, generator=g).to(dev)
        labels = torch.randint(0, 80, (n,), generator=g).to(dev)
        cheap = dict(
            blender=lambda: blender(bases, attns, rois),
            paste_ours=lambda: paste_masks(probs, boxes, H, W, 0.5),
            paste_mmdet=lambda: head._predict_by_feat_single(
                mask_logits, boxes, labels, meta, rcnn_cfg, rescale=True
            ),
        )

        def maskrcnn_head():
            head(extractor(fpn, rois))

        names = list(cheap)
        t = {k: [] for k in ('maskrcnn_head', *names)}
        with torch.no_grad():
            for f in (maskrcnn_head, *cheap.values()):  # warm-up
                f()
            for r in range(args.rounds):
                t['maskrcnn_head'].append(common.timeit(maskrcnn_head, dev))
                round_t = {k: [] for k in names}
                for i in range(inner):
                    k = (r + i) % len(names)
                    for name in names[k:] + names[:k]:
                        round_t[name].append(common.timeit(cheap[name], dev))
                for name in names:
                    t[name].append(common.median(round_t[name]))
        for k, v in common.ms(t).items():
            samples[f'{k}@{n}'] = v
        print(
            n,
            {k: round(common.median(v) * 1e3, 2) for k, v in t.items()},
            flush=True,
        )
    return samples


def build_roi_head(path: str, device: str):
    from mmdet.registry import MODELS
    from mmengine.config import Config

    m = Config.fromfile(path).model
    head = MODELS.build(
        dict(
            copy.deepcopy(m.roi_head),
            train_cfg=m.train_cfg.rcnn,
            test_cfg=m.test_cfg.rcnn,
        )
    )
    head.init_weights()
    return head.to(device).eval()


def mask_branch(args, g):
    """Part 2: per-round ms (keys ``<function>@<rois>``) and the heads'
    GFLOPs (``gflops/<head>@<rois>``)."""
    from mmdet.structures.bbox import bbox2roi
    from mmengine.structures import InstanceData

    dev = args.device
    H, W = args.size
    torch.manual_seed(0)
    stock = build_roi_head(common.mim_config(STOCK), dev)
    ours = build_roi_head(common.repo_config(OURS), dev)
    cascade = build_roi_head(common.mim_config(CASCADE_STOCK), dev)
    ours_cascade = build_roi_head(common.repo_config(CASCADE_OURS), dev)
    x = tuple(
        torch.randn(1, 256, -(-H // s), -(-W // s), generator=g).to(dev)
        for s in (4, 8, 16, 32, 64)
    )
    meta = dict(
        ori_shape=(H, W),
        img_shape=(H, W),
        scale_factor=(1.0, 1.0),
        batch_input_shape=(H, W),
    )
    strides = ours.neck_strides(len(x))
    samples, values = {}, {}
    for n in args.rois:
        boxes = random_boxes(n, H, W, g).to(dev)
        rois = bbox2roi([boxes])
        labels = torch.randint(0, 80, (n,), generator=g).to(dev)

        def results():
            return [
                InstanceData(
                    bboxes=boxes.clone(),
                    labels=labels,
                    scores=torch.ones(n, device=dev),
                )
            ]

        with torch.no_grad():
            feats = ours.mask_roi_extractor(x[:4], rois)

        def blend_head():
            bases, _ = ours.mask_head.forward_bases(x, strides)
            return ours.mask_head(feats, bases, rois)

        def cascade_blend():
            bases, _ = ours_cascade.basis_head.forward_bases(x, strides)
            return [
                head(feats, bases, rois) for head in ours_cascade.mask_head
            ]

        fns = dict(
            roi_feats=lambda: ours.mask_roi_extractor(x[:4], rois),
            fcn_head=lambda: stock.mask_head(feats),
            blend_head=blend_head,
            bases=lambda: ours.mask_head.forward_bases(x, strides),
            stock_predict_mask=lambda: stock.predict_mask(
                x, [meta], results(), rescale=True
            ),
            ours_predict_mask=lambda: ours.predict_mask(
                x, [meta], results(), rescale=True
            ),
            cascade_fcn=lambda: [head(feats) for head in cascade.mask_head],
            cascade_blend=cascade_blend,
        )
        with torch.no_grad():
            for k in (
                'fcn_head',
                'blend_head',
                'bases',
                'cascade_fcn',
                'cascade_blend',
            ):
                values[f'gflops/{k}@{n}'] = common.gflops(fns[k])
            t = common.ms(
                common.interleaved(fns, dev, args.rounds, args.min_timing)
            )
        for k, v in t.items():
            samples[f'{k}@{n}'] = v
        print(
            n,
            {k: round(common.median(v), 1) for k, v in t.items()},
            flush=True,
        )
    return samples, values


def run(args):
    if args.quick:
        args.size, args.nums, args.rois = [128, 192], [1, 10], [10]
    g = torch.Generator().manual_seed(0)
    samples = mask_path(args, g)
    branch, values = mask_branch(args, g)
    samples.update(branch)

    def med(key):
        return common.median(samples[key])

    path_rows = [
        [
            n,
            med(f'blender@{n}'),
            med(f'maskrcnn_head@{n}'),
            med(f'maskrcnn_head@{n}') / med(f'blender@{n}'),
            med(f'paste_ours@{n}'),
            med(f'paste_mmdet@{n}'),
        ]
        for n in args.nums
    ]
    branch_rows = [
        [n]
        + [
            med(f'{k}@{n}')
            for k in (
                'roi_feats',
                'fcn_head',
                'blend_head',
                'bases',
                'stock_predict_mask',
                'ours_predict_mask',
            )
        ]
        + [
            values[f'gflops/{k}@{n}']
            for k in ('fcn_head', 'blend_head', 'bases')
        ]
        for n in args.rois
    ]
    cascade_rows = [
        [
            n,
            med(f'cascade_fcn@{n}'),
            med(f'cascade_blend@{n}'),
            med(f'cascade_blend@{n}') / med(f'cascade_fcn@{n}'),
            values[f'gflops/cascade_fcn@{n}'],
            values[f'gflops/cascade_blend@{n}'],
        ]
        for n in args.rois
    ]
    H, W = args.size
    return dict(
        tables={
            'Mask path (ms, median) vs detections': dict(
                columns=[
                    'dets',
                    'blender',
                    'Mask R-CNN RoIAlign + head',
                    'head / blender',
                    'paste (ours)',
                    'paste (mmdet)',
                ],
                rows=path_rows,
            ),
            "Mask R-CNN's mask branch (ms, median) vs RoIs": dict(
                columns=[
                    'RoIs',
                    'RoIAlign (shared)',
                    'FCNMaskHead',
                    'blender head',
                    'of which bases',
                    'RoIAlign + FCN + paste',
                    'RoIAlign + blender + paste',
                    'GFLOPs FCN',
                    'GFLOPs blender head',
                    'GFLOPs bases',
                ],
                rows=branch_rows,
            ),
            "Cascade Mask R-CNN's three mask heads (ms, median) vs RoIs": dict(
                columns=[
                    'RoIs',
                    '3 x FCNMaskHead',
                    'blender heads (bases once)',
                    'blender / FCN',
                    'GFLOPs FCN',
                    'GFLOPs blender',
                ],
                rows=cascade_rows,
            ),
        },
        samples=samples,
        values=values,
        notes=[
            f'input {H}x{W}; random weights, boxes (16 px to half the '
            'image per side), bases and FPN features; torch.no_grad; '
            'masks pasted at the input size.'
        ],
    )
