"""Run AdelaiDet's own BlendMask code and mmblend on the same photos and
compare their detections (issue 23 §2).

    python tools/analysis_tools/compare_adelaidet.py \\
        --adelaidet SRC/AdelaiDet --detectron2 SRC/detectron2 \\
        --deps SRC/deps [--model R_50_3x 550_R_50_3x] [--photos IMG ...] \\
        [--seed 0] [--score-thr 0.05]

``--adelaidet`` and ``--detectron2`` are source trees (work trees, nothing
compiled); ``--deps`` is a ``pip install --target`` directory with
detectron2's pure-Python dependencies. Setup: docs/adelaidet.md.

Per model (``R_50_3x``: AdelaiDet's ``configs/BlendMask/R_50_3x.yaml`` vs
``configs/adelaidet_zoo/blendmask_r50-caffe_fpn_ms-3x_coco.py``;
``550_R_50_3x``: ``550_R_50_3x.yaml`` vs
``blendmask_r50-caffe_fpn_ms-550-3x_coco.py``):

1. AdelaiDet's BlendMask is built from its own yaml with detectron2's config
   system and AdelaiDet's model code, initialised by AdelaiDet under
   ``torch.manual_seed(seed)``; the FCOS output convs and the top layer are
   then redrawn from the seed at a larger scale (:data:`OUTPUT_INIT`) so
   that the untrained network gives about 100 detections per photo, boxes
   of all sizes and varied masks. The state dict is saved, detectron2's
   ``DefaultPredictor`` loads it (``MODEL.WEIGHTS``), and mmblend's
   ``tools/model_converters/adelaidet2mmblend.py`` converts it for
   ``init_detector``.
2. Each photo is resized once by the predictor's own test resize
   (detectron2's ``ResizeShortestEdge``, PIL) and this image is given to
   both ``DefaultPredictor`` and mmdet's ``inference_detector``: their
   resizes are then identities (checked), both networks see the same pixels
   and the results are compared at that size. ``--own-resize`` gives both
   the original photo instead (PIL vs cv2 resizing, a difference of inputs,
   not of the models).
3. Detections are matched by label and box IoU, never by rank
   (:func:`mmblend.deploy.matching.match_detections`, AdelaiDet as the
   reference). Printed per photo: detections per side, matched pairs,
   unmatched ones (above the other side's top-k cut or not; leaving the
   image or not), the largest box and score differences of matched pairs,
   their mask IoU split into boxes inside the image and boxes that leave it
   (AdelaiDet's box before ``detector_postprocess`` clips it), detections
   whose location lies in the padding, and the first disagreements; then a
   summary per model.

Exit status 0 when the two agree on every photo: every matched pair within
``--box-rtol``, ``--score-tol`` and mask IoU >= ``--mask-iou``, and no
unmatched detection but exact ties (``--score-tol``: two near-equal
candidates kept the other way round, or a tie at either side's top-k cut);
1 otherwise.

Running AdelaiDet's Python on CPU without compiling anything
------------------------------------------------------------
Nothing of AdelaiDet or detectron2 is changed; the AdelaiDet side runs in
this process with these stand-ins, put into ``sys.modules`` only while
detectron2 and AdelaiDet are imported and their model is built (mmdet's side
never sees them):

* ``torchvision`` (PyPI's breaks beside the CPU torch of this stack):
  detectron2 imports ``roi_align`` (``layers/roi_align.py``, the blender's
  ROIAlignV2 pooler), ``ops.boxes`` (``layers/nms.py``: AdelaiDet's
  ``ml_nms`` calls ``box_ops.batched_nms``), ``nms``, ``RoIPool`` and
  ``deform_conv2d`` at import time, and ``__version__`` when a ROIAlign is
  built. Exact CPU equivalents, from mmcv's compiled CPU ops:

  - ``roi_align``: ``mmcv.ops.roi_align(..., pool_mode='avg', aligned)``.
    mmcv's CPU kernel (``csrc/pytorch/cpu/roi_align.cpp``, taken from
    detectron2's) and torchvision's (``csrc/ops/cpu/roi_align_kernel.cpp``)
    compute the same sampling points (the -0.5 shift of ``aligned``), the
    same precomputed bilinear weights, the same sum in the same order and
    divide by the same count; they differ only for NaN box coordinates and
    negative box sizes (mmcv asserts), which FCOS boxes (ReLU distances)
    never have.
  - ``nms``: ``mmcv.ops.nms(..., offset=0)``. Both CPU kernels sort the
    scores with the same ``Tensor.sort(0, descending=True)`` call (so even
    exact score ties come in the same order) and run the same loop (areas,
    intersection, ``inter / (a1 + a2 - inter)``, suppress when
    ``> threshold``), so they keep the same indices in the same order.
    torchvision compares the float IoU with the threshold as a double, mmcv
    as a float: mmcv is given the largest float32 not above the threshold,
    which makes the two tests identical for every float IoU.
  - ``ops.boxes.batched_nms``: torchvision's own dispatch
    (``torchvision/ops/boxes.py``): above 4000 coordinates on CPU (and not
    tracing) NMS per class, else the coordinate-offset trick with its exact
    arithmetic, both on the ``nms`` above.
  - ``RoIPool``, ``deform_conv2d``: imported but not reached by these models
    (ROIAlignV2 pooler, no deformable convs); calling them raises.

* ``adet._C`` (AdelaiDet's compiled extension, imported by
  ``adet/layers/{bezier_align,def_roi_align}.py`` for ABCNet) and
  ``skimage`` (imported by ``adet/modeling/condinst/condinst.py`` for
  BoxInst training): compiled code that BlendMask inference does not reach;
  empty modules whose attributes raise.

detectron2's ``_C`` is not needed: ``layers/deform_conv.py`` catches its
ImportError itself.
"""

import argparse
import contextlib
import os.path as osp
import runpy
import sys
import tempfile
import types
import warnings
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTO_DIR = osp.join(
    REPO_ROOT, 'demo', 'data', 'coco128-seg', 'images', 'train2017'
)
#: model name -> (AdelaiDet yaml, mmblend config), relative to each repo
MODELS = {
    'R_50_3x': (
        'configs/BlendMask/R_50_3x.yaml',
        'configs/adelaidet_zoo/blendmask_r50-caffe_fpn_ms-3x_coco.py',
    ),
    '550_R_50_3x': (
        'configs/BlendMask/550_R_50_3x.yaml',
        'configs/adelaidet_zoo/blendmask_r50-caffe_fpn_ms-550-3x_coco.py',
    ),
}
#: default photos (coco128-seg; landscape, portrait and a 2:1 panorama):
#: with the default seed, detections of either model leave the image on
#: every side, and some come from locations in the padding (for 550: the
#: panorama 000000000338, padded on the right and bottom)
PHOTOS = (
    '000000000241.jpg',
    '000000000315.jpg',
    '000000000338.jpg',
    '000000000536.jpg',
)
#: AdelaiDet initialises these convs with N(0, 0.01) and zero bias (cls:
#: the focal-loss prior), which in an untrained network gives near-constant
#: scores and boxes of near-zero size; they are redrawn as
#: N(0, std) weights and a constant bias (cls: score level; bbox_pred: box
#: sides in strides).
OUTPUT_INIT = {
    'proposal_generator.fcos_head.cls_logits': (0.06, -4.0),
    'proposal_generator.fcos_head.bbox_pred': (0.03, 2.5),
    'proposal_generator.fcos_head.ctrness': (0.03, 0.0),
    'top_layer': (0.03, 0.0),
}


# ----------------------------------------------------------------- shims
def _unreachable(name: str, why: str):
    def fail(*args, **kwargs):
        raise NotImplementedError(
            f'{name} is a stand-in of compare_adelaidet.py ({why}); the '
            'compared models should not reach it'
        )

    return fail


def _stub_module(name: str, why: str) -> types.ModuleType:
    """A module whose every attribute access raises (PEP 562)."""
    mod = types.ModuleType(name)

    def getattr_(attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        raise AttributeError(
            f'{name}.{attr}: {name} is an empty stand-in '
            f'of compare_adelaidet.py ({why})'
        )

    mod.__getattr__ = getattr_
    return mod


def _torchvision_shim() -> Dict[str, types.ModuleType]:
    """``torchvision``, ``torchvision.ops``, ``torchvision.ops.boxes`` with
    the ops detectron2 imports (see the module docstring)."""
    from mmcv.ops import nms as mmcv_nms
    from mmcv.ops import roi_align as mmcv_roi_align

    def roi_align(
        input,
        boxes,
        output_size,
        spatial_scale=1.0,
        sampling_ratio=-1,
        aligned=False,
    ):
        if not (
            torch.is_tensor(boxes) and boxes.dim() == 2 and boxes.size(1) == 5
        ):
            raise TypeError('the roi_align stand-in takes rois [K, 5] only')
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        return mmcv_roi_align(
            input,
            boxes,
            tuple(output_size),
            spatial_scale,
            sampling_ratio,
            'avg',
            aligned,
        )

    def nms(boxes, scores, iou_threshold):
        thr = np.float32(iou_threshold)
        if float(thr) > iou_threshold:  # largest float32 <= threshold
            thr = np.nextafter(thr, np.float32(-np.inf))
        return mmcv_nms(boxes, scores, float(thr))[1]

    def _is_tracing():
        return torch.jit.is_tracing()

    def batched_nms(boxes, scores, idxs, iou_threshold):
        limit = 4000 if boxes.device.type == 'cpu' else 100000
        if boxes.numel() > limit and not _is_tracing():
            keep_mask = torch.zeros_like(scores, dtype=torch.bool)
            for class_id in torch.unique(idxs):
                inds = torch.where(idxs == class_id)[0]
                keep_mask[
                    inds[nms(boxes[inds], scores[inds], iou_threshold)]
                ] = True
            keep = torch.where(keep_mask)[0]
            return keep[scores[keep].sort(descending=True)[1]]
        if boxes.numel() == 0:
            return torch.empty((0,), dtype=torch.int64, device=boxes.device)
        offsets = idxs.to(boxes) * (boxes.max() + torch.tensor(1).to(boxes))
        return nms(boxes + offsets[:, None], scores, iou_threshold)

    tv = types.ModuleType('torchvision')
    ops = types.ModuleType('torchvision.ops')
    box_ops = types.ModuleType('torchvision.ops.boxes')
    # the lowest version detectron2's ROIAlign accepts (aligned=True)
    tv.__version__ = '0.7.0'
    tv._is_tracing = _is_tracing
    tv.ops = ops
    ops.boxes = box_ops
    ops.roi_align = roi_align
    ops.nms = box_ops.nms = nms
    box_ops.batched_nms = batched_nms
    ops.RoIPool = _unreachable(
        'torchvision.ops.RoIPool', 'only the ROIPool pooler type uses it'
    )
    ops.deform_conv2d = _unreachable(
        'torchvision.ops.deform_conv2d', 'only deformable convs use it'
    )
    return {
        'torchvision': tv,
        'torchvision.ops': ops,
        'torchvision.ops.boxes': box_ops,
    }


@contextlib.contextmanager
def reference_imports(
    adelaidet: str, detectron2: str, deps: Optional[str]
) -> Iterator[None]:
    """Puts the sources (and ``deps``) on ``sys.path``, and the stand-ins
    into ``sys.modules`` for the duration only."""
    for path, what in (
        (osp.join(adelaidet, 'adet'), '--adelaidet'),
        (osp.join(detectron2, 'detectron2'), '--detectron2'),
    ):
        if not osp.isdir(path):
            sys.exit(
                f'error: {what}: {path} not found (give the work tree '
                'that contains it; docs/adelaidet.md)'
            )
    shims = _torchvision_shim()
    shims['adet._C'] = _stub_module(
        'adet._C',
        "AdelaiDet's compiled ops (ABCNet's BezierAlign, DefROIAlign)",
    )
    color = _stub_module('skimage.color', "BoxInst's training loss")
    skimage = types.ModuleType('skimage')
    skimage.color = color
    shims.update({'skimage': skimage, 'skimage.color': color})
    # the sources before any installed copy; deps after the environment's
    # packages, so that they only add what is missing
    sys.path[:0] = [detectron2, adelaidet]
    if deps:
        sys.path.append(deps)
    saved = {k: sys.modules.get(k) for k in shims}
    sys.modules.update(shims)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


# ------------------------------------------------------------ the models
def seed_weights(model: torch.nn.Module, seed: int) -> None:
    """Redraw :data:`OUTPUT_INIT`'s convs of AdelaiDet's model from
    ``seed``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, (std, bias) in OUTPUT_INIT.items():
            conv = model.get_submodule(name)
            conv.weight.copy_(
                torch.randn(conv.weight.shape, generator=g) * std
            )
            conv.bias.fill_(bias)


def build_adelaidet(args, model_name: str, work_dir: str) -> tuple:
    """``(predictor, weights path)``: detectron2's DefaultPredictor for
    AdelaiDet's ``model_name`` with seeded weights saved in ``work_dir``."""
    with reference_imports(args.adelaidet, args.detectron2, args.deps):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', FutureWarning)
                from adet.config import get_cfg
                from detectron2.engine import DefaultPredictor
                from detectron2.modeling import build_model
        except ModuleNotFoundError as e:
            sys.exit(
                f'error: importing detectron2/AdelaiDet: {e}; install '
                "detectron2's pure-Python dependencies with pip install "
                '--target DIR and pass --deps DIR (docs/adelaidet.md)'
            )
        cfg = get_cfg()
        cfg.merge_from_file(osp.join(args.adelaidet, MODELS[model_name][0]))
        cfg.MODEL.DEVICE = 'cpu'
        if args.score_thr is not None:
            cfg.MODEL.FCOS.INFERENCE_TH_TEST = args.score_thr
        torch.manual_seed(args.seed)
        model = build_model(cfg)
        seed_weights(model, args.seed)
        weights = osp.join(work_dir, f'adelaidet_{model_name}.pth')
        torch.save({'model': model.state_dict()}, weights)
        cfg.MODEL.WEIGHTS = weights
        predictor = DefaultPredictor(cfg)
    return predictor, weights


def build_mmblend(
    model_name: str, weights: str, work_dir: str, score_thr: float
) -> torch.nn.Module:
    """mmblend's model from AdelaiDet's ``weights``, converted by
    adelaidet2mmblend.py, at AdelaiDet's ``score_thr``."""
    from mmdet.apis import init_detector

    import mmblend  # noqa: F401

    convert_file = runpy.run_path(
        osp.join(
            REPO_ROOT, 'tools', 'model_converters', 'adelaidet2mmblend.py'
        )
    )['convert_file']
    config = osp.join(REPO_ROOT, MODELS[model_name][1])
    out = osp.join(work_dir, f'mmblend_{model_name}.pth')
    convert_file(weights, out, config, verbose=False)
    return init_detector(
        config,
        out,
        device='cpu',
        cfg_options={'model.test_cfg.score_thr': score_thr},
    )


# ------------------------------------------------------------ inference
def run_adelaidet(predictor, img: np.ndarray) -> dict:
    """AdelaiDet's detections of a BGR image, with each box as it was
    before ``detector_postprocess`` clipped it (``raw_boxes``, network input
    pixels), the network input size and the scores kept by the top-k cut
    (``kept``, before ``detector_postprocess`` drops empty boxes)."""
    seen = {}

    def keep_raw(module, inputs, output):
        for inst in output[0]:
            seen.update(size=inst.image_size, kept=inst.scores.clone())
            inst.raw_boxes = inst.pred_boxes.tensor.clone()

    handle = predictor.model.proposal_generator.register_forward_hook(keep_raw)
    try:
        inst = predictor(img)['instances']
    finally:
        handle.remove()
    return dict(
        bboxes=inst.pred_boxes.tensor,
        scores=inst.scores,
        labels=inst.pred_classes,
        masks=inst.pred_masks.bool(),
        raw_boxes=inst.raw_boxes,
        locations=inst.locations,
        input_size=seen['size'],
        kept=seen['kept'],
    )


def run_mmblend(model, img: np.ndarray, check_identity: bool) -> dict:
    from mmdet.apis import inference_detector

    result = inference_detector(model, img)
    if check_identity:
        meta = result.metainfo
        if tuple(meta['img_shape'][:2]) != tuple(
            meta['ori_shape'][:2]
        ) or tuple(meta['scale_factor']) != (1.0, 1.0):
            sys.exit(
                f"error: mmdet resized the pre-resized image "
                f"({meta['ori_shape']} -> {meta['img_shape']}); use "
                '--own-resize or another photo'
            )
    pred = result.pred_instances
    return dict(
        bboxes=pred.bboxes,
        scores=pred.scores,
        labels=pred.labels,
        masks=pred.masks.bool(),
        kept=pred.scores,
    )


# ------------------------------------------------------------ comparison
def mask_iou(m1: torch.Tensor, m2: torch.Tensor) -> float:
    union = (m1 | m2).sum().item()
    return 1.0 if union == 0 else (m1 & m2).sum().item() / union


def leaves(boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``[n, 4]`` bool: the box leaves the ``(h, w)`` image on the left,
    top, right, bottom."""
    h, w = size
    return torch.stack(
        [boxes[:, 0] < 0, boxes[:, 1] < 0, boxes[:, 2] > w, boxes[:, 3] > h],
        dim=1,
    )


def compare_photo(a: dict, b: dict, topk: int, args) -> dict:
    """Statistics of one photo: AdelaiDet's detections ``a`` and mmblend's
    ``b`` matched by :func:`mmblend.deploy.matching.match_detections`, which
    tolerates exact ties (``--score-tol``) at either side's top-k cut: the
    lowest score kept there (AdelaiDet's before ``detector_postprocess``
    drops empty boxes; mmblend's lowest reported score when it reports
    ``max_per_img`` detections)."""
    from mmblend.deploy.matching import match_detections

    cuts = [
        d['kept'].min().item() if len(d['kept']) >= topk else None
        for d in (a, b)
    ]
    res = match_detections(
        a,
        b,
        score_atol=args.score_tol,
        box_rtol=args.box_rtol,
        mask_tol=1 - args.mask_iou,
        iou_thr=args.match_iou,
        score_intervals=[(c, c) for c in cuts if c is not None],
        names=('AdelaiDet', 'mmblend'),
    )
    ia = [i for i, _ in res.pairs]
    ib = [j for _, j in res.pairs]
    out_a = leaves(a['raw_boxes'], a['input_size'])
    h, w = a['masks'].shape[-2:]
    inner = b['bboxes'] - b['bboxes'].new_tensor([1e-3, 1e-3, -1e-3, -1e-3])
    border_b = leaves(inner, (h, w))  # mmblend's boxes touching the border

    def unmatched(side, paired, cut, border):
        rows = []
        for k in sorted(set(range(len(side['scores']))) - set(paired)):
            score = side['scores'][k].item()
            rows.append(
                dict(
                    score=score,
                    border=bool(border[k].any()),
                    below=cut is not None and score <= cut + args.score_tol,
                )
            )
        return rows

    stats = dict(
        ok=res.ok,
        problems=res.problems,
        n_a=len(a['scores']),
        n_b=len(b['scores']),
        pairs=len(res.pairs),
        dropped=len(a['kept']) - len(a['scores']),
        tolerated=len(res.swaps) * 2 + len(res.cut),
        un_a=unmatched(a, ia, cuts[1], out_a),
        un_b=unmatched(b, ib, cuts[0], border_b),
        box_diff=0.0,
        score_diff=0.0,
        inside=[],
        outside=[],
        sides=out_a.sum(0).tolist(),
        from_padding=int(
            (
                (a['locations'][:, 0] >= a['input_size'][1])
                | (a['locations'][:, 1] >= a['input_size'][0])
            ).sum()
        ),
    )
    if res.pairs:
        stats['box_diff'] = (
            (a['bboxes'][ia] - b['bboxes'][ib]).abs().max().item()
        )
        stats['score_diff'] = (
            (a['scores'][ia] - b['scores'][ib]).abs().max().item()
        )
    for i, j in res.pairs:
        key = 'outside' if out_a[i].any() else 'inside'
        stats[key].append(mask_iou(a['masks'][i], b['masks'][j]))
    return stats


def describe_unmatched(rows: List[dict]) -> str:
    if not rows:
        return '0'
    below = sum(r['below'] for r in rows)
    border = sum(r['border'] for r in rows)
    scores = ', '.join('%.4f' % r['score'] for r in rows[:6])
    return (
        f"{len(rows)}: {len(rows) - below} above the other side's top-k "
        f"cut, {below} at or below it; {border} leave or touch the "
        f"image; scores {scores}{' ...' if len(rows) > 6 else ''}"
    )


def iou_line(ious: List[float], thr: float) -> str:
    if not ious:
        return '0 pairs'
    below = sum(v < thr for v in ious)
    return (
        f'{len(ious)} pairs, min {min(ious):.4f}, mean '
        f'{np.mean(ious):.4f}, {below} below {thr}'
    )


def compare_model(
    args, model_name: str, photos: List[str], work_dir: str
) -> List[dict]:
    """Run both sides of ``model_name`` on ``photos``, print the comparison
    and return :func:`compare_photo`'s statistics per photo."""
    import mmcv

    predictor, weights = build_adelaidet(args, model_name, work_dir)
    fcos = predictor.cfg.MODEL.FCOS
    model = build_mmblend(
        model_name, weights, work_dir, fcos.INFERENCE_TH_TEST
    )
    topk = fcos.POST_NMS_TOPK_TEST
    if model.bbox_head.test_cfg.max_per_img != topk:
        sys.exit(
            f'error: max_per_img {model.bbox_head.test_cfg.max_per_img}'
            f' of {MODELS[model_name][1]} is not AdelaiDet\'s {topk}'
        )
    print(
        f'== {model_name}: AdelaiDet {MODELS[model_name][0]} vs '
        f'{MODELS[model_name][1]} (seed {args.seed}, score threshold '
        f'{fcos.INFERENCE_TH_TEST} on cls x ctr, top {topk})'
    )
    all_stats = []
    for path in photos:
        img = mmcv.imread(path, 'color')
        if not args.own_resize:
            img = predictor.aug.get_transform(img).apply_image(img)
            again = predictor.aug.get_transform(img).apply_image(img)
            if again.shape != img.shape or not np.array_equal(again, img):
                sys.exit(
                    f'error: {path}: detectron2 resizes its resized '
                    'image again; use --own-resize or another photo'
                )
        with torch.no_grad():
            a = run_adelaidet(predictor, img)
            b = run_mmblend(model, img, check_identity=not args.own_resize)
        s = compare_photo(a, b, topk, args)
        all_stats.append(s)
        h, w = a['masks'].shape[-2:]
        print(
            f'{osp.basename(path)} ({w}x{h}, network input '
            f"{a['input_size'][1]}x{a['input_size'][0]}): AdelaiDet "
            f"{s['n_a']} ({s['dropped']} more were empty once clipped), "
            f"mmblend {s['n_b']} detections, {s['pairs']} matched"
        )
        print(
            f"  AdelaiDet boxes leaving the image: left/top/right/bottom "
            f"{'/'.join(map(str, s['sides']))}; locations in the padding: "
            f"{s['from_padding']}"
        )
        print(f"  unmatched AdelaiDet: {describe_unmatched(s['un_a'])}")
        print(f"  unmatched mmblend:   {describe_unmatched(s['un_b'])}")
        print(
            f"  matched: max |box| diff {s['box_diff']:.2e} px, max |score|"
            f" diff {s['score_diff']:.2e}"
        )
        print(
            f"  mask IoU, box inside the image: "
            f"{iou_line(s['inside'], args.mask_iou)}"
        )
        print(
            f"  mask IoU, box leaves the image: "
            f"{iou_line(s['outside'], args.mask_iou)}"
        )
        for line in s['problems'][: args.show_problems]:
            print(f'  problem: {line}')
        if len(s['problems']) > args.show_problems:
            print(f"  ... {len(s['problems'])} problems in all")
    ok = all(s['ok'] for s in all_stats)
    ious = [v for s in all_stats for v in s['inside'] + s['outside']]
    outside = [v for s in all_stats for v in s['outside']]
    un = [r for s in all_stats for r in s['un_a'] + s['un_b']]
    below = sum(r['below'] for r in un)
    print(
        f"-- {model_name} summary: {len(photos)} photos, "
        f"{sum(s['n_a'] for s in all_stats)} AdelaiDet / "
        f"{sum(s['n_b'] for s in all_stats)} mmblend detections, "
        f"{len(ious)} matched pairs; {len(un)} unmatched ({len(un) - below}"
        f" above the other side's top-k cut, {below} at or below it; "
        f"{sum(s['tolerated'] for s in all_stats)} tolerated as ties "
        f"within {args.score_tol}); max box diff "
        f"{max(s['box_diff'] for s in all_stats):.2e} px, max score diff "
        f"{max(s['score_diff'] for s in all_stats):.2e}; "
        f'{sum(v < args.mask_iou for v in ious)} of {len(ious)} matched '
        f'pairs below mask IoU {args.mask_iou} '
        f'({sum(v < args.mask_iou for v in outside)} of the '
        f'{len(outside)} whose box leaves the image): '
        f"{'AGREE' if ok else 'DIFFER'}"
    )
    return all_stats


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare AdelaiDet's own BlendMask code with mmblend on "
        'photos (docs/adelaidet.md).'
    )
    parser.add_argument(
        '--adelaidet',
        required=True,
        help='AdelaiDet work tree (contains adet/)',
    )
    parser.add_argument(
        '--detectron2',
        required=True,
        help='detectron2 work tree (contains detectron2/)',
    )
    parser.add_argument(
        '--deps',
        default=None,
        help="directory of detectron2's pure-Python "
        'dependencies (pip install --target)',
    )
    parser.add_argument(
        '--model', nargs='+', choices=list(MODELS), default=list(MODELS)
    )
    parser.add_argument(
        '--photos',
        nargs='+',
        default=None,
        help=f'images (default: {", ".join(PHOTOS)} of demo/data/coco128-seg)',
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--score-thr',
        type=float,
        default=None,
        help="threshold on cls x ctr, both sides "
        "(default: AdelaiDet's INFERENCE_TH_TEST, 0.05)",
    )
    parser.add_argument(
        '--own-resize',
        action='store_true',
        help='give both the original photos (each side '
        'resizes with its own library)',
    )
    parser.add_argument('--match-iou', type=float, default=0.9)
    parser.add_argument(
        '--box-rtol',
        type=float,
        default=1e-4,
        help='max box difference of matched pairs, relative to max(|x|, 1)',
    )
    parser.add_argument(
        '--score-tol',
        type=float,
        default=1e-5,
        help='max score difference of matched pairs, and '
        'of a tie at the top-k cut',
    )
    parser.add_argument(
        '--mask-iou',
        type=float,
        default=0.98,
        help='min mask IoU of matched pairs',
    )
    parser.add_argument(
        '--show-problems',
        type=int,
        default=3,
        help='disagreements printed per photo',
    )
    parser.add_argument(
        '--work-dir',
        default=None,
        help='where the checkpoints are written (default: a '
        'temporary directory, removed)',
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    # noise of mmengine (is_installed) and of AdelaiDet (compute_locations)
    warnings.filterwarnings('ignore', 'pkg_resources is deprecated')
    warnings.filterwarnings('ignore', 'torch.meshgrid')
    photos = args.photos or [osp.join(PHOTO_DIR, p) for p in PHOTOS]
    missing = [p for p in photos if not osp.isfile(p)]
    if missing:
        sys.exit(f'error: photos not found: {", ".join(missing)}')
    if args.deps and not osp.isdir(args.deps):
        sys.exit(f'error: --deps {args.deps} not found')
    ok = True
    with contextlib.ExitStack() as stack:
        work_dir = args.work_dir or stack.enter_context(
            tempfile.TemporaryDirectory(prefix='compare_adelaidet_')
        )
        for model_name in args.model:
            stats = compare_model(args, model_name, photos, work_dir)
            ok = ok and all(s['ok'] for s in stats)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
