"""Export a trained BlendMask (any host of the mixing mechanism) to ONNX.

The graph is the model's own inference code, traced: the backbone and neck,
the host head's forward and post-processing (its ``predict_by_feat``, with
the mixing mechanism recording the candidates it keeps), the top layer at
the detections and the blender (:class:`DetectorExport`). The few
functions on that path that tracing cannot take are replaced during the
export only (:mod:`mmblend.deploy.rewrite`).

Exporter: ``torch.jit.trace`` of the model's eager code, then the
TorchScript ONNX exporter (``torch.onnx.export(..., dynamo=False)``), which
honours an ``autograd.Function``'s ``symbolic`` (how :mod:`mmblend.deploy.
ops` emits ``NonMaxSuppression`` and ``RoiAlign``). torch 2.13's default
``dynamo=True`` cannot take mmcv's compiled ops. Opset 16: the first with
``RoiAlign``'s ``coordinate_transformation_mode='half_pixel'`` (mmcv's
``aligned=True``).
"""
import warnings
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import DeformConv2d, ModulatedDeformConv2d
from mmdet.models.dense_heads import TOODHead
from torch import Tensor

from ..models.dense_heads.blend_host_mixin import BlendHostMixin
from ..models.detectors.blendmask import BlendMask
from .matching import cut_intervals, match_detections
from .onnx_detector import GraphRunner
from .ops import OPSET
from .rewrite import export_rewrites, rewritten_methods

# img_shape is dropped from a graph that does not clip (clip_after_mask)
INPUT_NAMES = ['image', 'img_shape']
OUTPUT_NAMES = ['boxes', 'scores', 'labels', 'masks']
DYNAMIC_AXES = {
    'image': {2: 'height', 3: 'width'},
    'boxes': {0: 'num_dets'},
    'scores': {0: 'num_dets'},
    'labels': {0: 'num_dets'},
    'masks': {0: 'num_dets'},
}


def check_exportable(model: nn.Module) -> None:
    """Raise a ``ValueError`` naming the op / function and the config key
    when ``model``'s inference cannot be traced into a correct graph."""
    if not isinstance(model, BlendMask) or hasattr(model, 'semantic_head'):
        raise ValueError(
            'ONNX export supports BlendMask detectors (model.type='
            f"'BlendMask'), got {type(model).__name__} (panoptic models: "
            'the panoptic fusion has no graph)')
    head = model.bbox_head
    if not isinstance(head, BlendHostMixin):
        raise ValueError(f'model.bbox_head {type(head).__name__} is not a '
                         'host of the mixing mechanism')
    if isinstance(head, TOODHead):
        raise ValueError(
            "op deform_conv2d (TOODHead's forward, deform_sampling; "
            "model.bbox_head.type='BlendTOODHead') cannot be exported: "
            'onnxruntime has no deformable convolution')
    mro = type(head).__mro__
    post = next(k for k in mro[mro.index(BlendHostMixin) + 1:]
                if '_bbox_post_process' in k.__dict__)
    if (post, '_bbox_post_process') not in rewritten_methods():
        raise ValueError(
            f'{post.__name__}._bbox_post_process (model.bbox_head.type='
            f"'{type(head).__name__}') has no traceable replacement in "
            'mmblend.deploy.rewrite: this host cannot be exported')
    for name, module in model.named_modules():
        if isinstance(module, (DeformConv2d, ModulatedDeformConv2d)):
            raise ValueError(
                f'op {type(module).__name__} ({name}; model.backbone.dcn / '
                'stage_with_dcn) cannot be exported: ONNX has no deformable '
                "convolution that onnxruntime runs (mmcv's symbolic needs "
                "mmcv's custom-op library); export a config without DCN")
    blender = model.mask_head.blender
    if blender.pooler_type != 'RoIAlign':
        raise ValueError(
            f'op {blender.pooler_type} (model.mask_head.blender.pooler='
            f"'{blender.pooler_type}') cannot be exported: ONNX MaxRoiPool "
            "rounds the box corners (Caffe's RoIPool), unlike mmcv's RoIPool "
            'that the model was trained with; export a RoIAlign config')
    nms = head.test_cfg.get('nms')
    if nms is None or nms.get('type', 'nms') != 'nms':
        raise ValueError(
            f'model.test_cfg.nms={nms!r}: ONNX export supports plain NMS '
            "(type='nms', ONNX NonMaxSuppression) only")


class DetectorExport(nn.Module):
    """A :class:`~mmblend.models.BlendMask`'s own inference on one
    preprocessed image, as a traceable module.

    ``forward(image [1, 3, H, W], img_shape [2])`` runs the detector's
    ``extract_feat``, its host's forward and ``predict_by_feat``
    (``rescale=False``: boxes at the
    input scale; ``img_shape``, the resized image size before padding, is
    what boxes are clipped to) and its mask head's ``blend``, and returns
    ``boxes [D, 4]``, ``scores [D]``, ``labels [D]`` (int64) and ``masks
    [D, R, R]`` (box-relative mask probabilities): what
    :func:`~mmblend.models.dense_heads.blendmask_mask_head.
    postprocess_masks` turns into the final instances.
    """

    def __init__(self, model: BlendMask) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        cfg = model.bbox_head.test_cfg
        self.score_thr = float(cfg.get('score_thr', 0))
        self.max_per_img = int(cfg.get('max_per_img', -1))

    def score_cut(self) -> Tuple[float, float]:
        """The reported scores of a candidate at the score threshold."""
        return self.model.bbox_head.score_cut(self.score_thr)

    def forward(self, image: Tensor,
                img_shape: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        size = image.shape[-2:]
        # a plain dict: DetDataSample deep-copies its metainfo, which would
        # turn the traced img_shape into a constant
        meta = dict(img_shape=img_shape, pad_shape=size,
                    batch_input_shape=size, scale_factor=(1.0, 1.0))
        model = self.model
        x = model.extract_feat(image)
        results = model.bbox_head.predict_by_feat(
            *model.bbox_head(x), batch_img_metas=[meta], rescale=False)
        bases = model.mask_head(x)[0]
        masks = model.mask_head.blend(bases, results)[0]
        r = results[0]
        return r.bboxes, r.scores, r.labels, masks


def export_onnx(model: nn.Module, inputs: Tensor, img_shape: Tensor,
                out_file: str, verify: bool = True) -> dict:
    """Trace ``model`` (a BlendMask in eval mode) on one preprocessed image
    and write ``out_file``.

    Args:
        model: the detector (``init_detector(...)``).
        inputs: ``[1, 3, H, W]`` preprocessed image to trace with; it must
            give at least one detection (so that the traced graph contains
            the blender's non-empty path).
        img_shape: ``[2]`` int64 resized image size before padding.
        out_file: the ``.onnx`` path.
        verify: run the file with onnxruntime and compare it with PyTorch
            (:func:`verify_export`).

    Returns:
        dict: ``num_dets`` of the tracing image and, with ``verify``, the
        comparison of :func:`verify_export`.

    Raises:
        ValueError: the model cannot be exported (the op and config key are
            named) or the tracing image gives no detection.
        RuntimeError: with ``verify``, onnxruntime disagrees with PyTorch.
    """
    wrapper = DetectorExport(model).eval()
    img_shape = img_shape.long()
    with torch.no_grad(), export_rewrites(model):
        ref = wrapper(inputs, img_shape)
        if ref[0].shape[0] == 0:
            raise ValueError(
                'the tracing image gives no detection: trace with a photo on '
                'which the model detects something (--image), or lower the '
                'threshold for tracing only with --trace-score-thr (the '
                "graph keeps the config's model.test_cfg.score_thr)")
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', UserWarning)
            traced = torch.jit.trace(wrapper, (inputs, img_shape),
                                     check_trace=False)
            torch.onnx.export(
                traced, (inputs, img_shape), out_file, dynamo=False,
                opset_version=OPSET, input_names=INPUT_NAMES,
                output_names=OUTPUT_NAMES, dynamic_axes=DYNAMIC_AXES,
                do_constant_folding=True)
    report = dict(num_dets=int(ref[0].shape[0]), opset=OPSET)
    if verify:
        report.update(verify_export(out_file, wrapper, inputs, img_shape))
    return report


def verify_export(onnx_file: str, wrapper: torch.nn.Module, inputs: Tensor,
                  img_shape: Tensor, backend: str = 'onnxruntime') -> dict:
    """Check an exported graph against the PyTorch module it was traced from.

    Runs both on the tracing input and on two variants that a graph with a
    value frozen by tracing gets wrong: the input flipped left-right (other
    detections, same size) and padded by 32 pixels at the bottom and the
    right (other feature map sizes). Detections are matched with
    :func:`~mmblend.deploy.matching.match_detections` (by label and box IoU;
    near-tie swaps and swaps at the score threshold or ``max_per_img`` cut
    are tolerated, since another CPU's kernels may break near-ties the
    other way).

    Args:
        onnx_file: the exported graph.
        wrapper: the traced module (:class:`DetectorExport`).
        inputs: ``[1, 3, H, W]`` the tracing input.
        img_shape: ``[2]`` int64 its unpadded size.
        backend: the runtime (``'onnxruntime'`` or ``'openvino'``).

    Returns:
        dict: summed over the three inputs, how many detections were
        ``matched`` (paired), tolerated as ``swaps`` or at a ``cut``, and the
        worst ``max_rel_box``, ``max_abs_score`` and ``max_abs_mask`` of the
        pairs (box-relative mask probabilities).

    Raises:
        RuntimeError: a real mismatch, naming the input and the detections
            that differ.
    """
    runner = GraphRunner(onnx_file, backend)
    fields = ('bboxes', 'scores', 'labels', 'masks')
    variants = (('the tracing input', inputs),
                ('the flipped input', inputs.flip(-1)),
                ('the padded input', F.pad(inputs, (0, 32, 0, 32))))
    report = dict(matched=0, swaps=0, cut=0, max_rel_box=0.0,
                  max_abs_score=0.0, max_abs_mask=0.0)
    for name, image in variants:
        with torch.no_grad(), export_rewrites(wrapper.model):
            ref = dict(zip(fields, wrapper(image, img_shape)))
        try:
            got = dict(zip(fields, runner.run(image, img_shape)))
        except Exception as e:  # onnxruntime's own errors
            raise RuntimeError(f'{onnx_file}: {backend} fails on {name} '
                               f'(PyTorch runs it): {e}') from e
        match = match_detections(
            ref, got, score_atol=1e-4, box_rtol=1e-3, mask_tol=1e-3,
            score_intervals=cut_intervals(ref, got, wrapper.max_per_img,
                                          wrapper.score_cut()),
            names=('PyTorch', backend))
        if not match.ok:
            shown = '\n  '.join(match.problems[:10])
            more = len(match.problems) - 10
            raise RuntimeError(
                f'{onnx_file}: {backend} and PyTorch disagree on {name} '
                f'({len(got["scores"])} vs {len(ref["scores"])} detections; '
                f'{match.summary()}):\n  {shown}' +
                (f'\n  ... and {more} more' if more > 0 else ''))
        report['matched'] += len(match.pairs)
        report['swaps'] += len(match.swaps)
        report['cut'] += len(match.cut)
        for key, worst in (('max_rel_box', 'box_rel'),
                           ('max_abs_score', 'score'),
                           ('max_abs_mask', 'mask')):
            report[key] = max(report[key], match.worst[worst])
    return report


def load_model(config: str, checkpoint: Optional[str],
               device: str = 'cpu') -> torch.nn.Module:
    """``init_detector`` with mmblend registered."""
    from mmdet.apis import init_detector

    import mmblend  # noqa: F401
    return init_detector(config, checkpoint, device=device)
