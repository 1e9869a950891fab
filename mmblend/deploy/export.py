"""Export a trained BlendMask (any host of the mixing mechanism) or a
Mask R-CNN with the blender mask head to ONNX.

The graph is the model's own inference code, traced: the backbone and neck,
the host head's forward and post-processing (its ``predict_by_feat``, with
the mixing mechanism recording the candidates it keeps), the top layer at
the detections and the blender (:class:`DetectorExport`); for a two-stage
detector the RPN, the bbox RoI head and the blender mask head on the RoIs
(:class:`TwoStageDetectorExport`). The few functions on that path that
tracing cannot take are replaced during the export only
(:mod:`mmblend.deploy.rewrite`).

Exporter: ``torch.jit.trace`` of the model's eager code, then the
TorchScript ONNX exporter (``torch.onnx.export(..., dynamo=False)``), which
honours an ``autograd.Function``'s ``symbolic`` (how :mod:`mmblend.deploy.
ops` emits ``NonMaxSuppression`` and ``RoiAlign``). torch 2.13's default
``dynamo=True`` cannot take mmcv's compiled ops. Opset 16: the first with
``RoiAlign``'s ``coordinate_transformation_mode='half_pixel'`` (mmcv's
``aligned=True``).
"""

import inspect
import warnings
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import DeformConv2d, ModulatedDeformConv2d, RoIAlign
from mmdet.models.dense_heads import TOODHead
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.models.test_time_augs import merge_aug_masks
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData
from torch import Tensor

from ..models.dense_heads.blend_host_mixin import BlendHostMixin
from ..models.detectors.blendmask import BlendMask
from ..models.layers.blender import Blender
from ..models.roi_heads import BlendCascadeRoIHead, BlendRoIHead
from .matching import cut_intervals, match_detections
from .onnx_detector import GraphRunner
from .ops import OPSET
from .rewrite import ExportRoIAlign, export_rewrites, rewritten_methods

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
#: ``torch.onnx.export`` keyword arguments that select the TorchScript
#: exporter: ``dynamo=False`` where the argument exists (torch >= 2.5;
#: before it, the TorchScript exporter is the only one).
TORCHSCRIPT_EXPORTER = (
    {'dynamo': False}
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters
    else {}
)


def check_exportable(model: nn.Module) -> None:
    """Raise a ``ValueError`` naming the op / function and the config key
    when ``model``'s inference cannot be traced into a correct graph."""
    if isinstance(model, TwoStageDetector):
        _check_two_stage(model)
    elif not isinstance(model, BlendMask) or hasattr(model, 'semantic_head'):
        raise ValueError(
            'ONNX export supports BlendMask detectors (model.type='
            f"'BlendMask') and two-stage detectors with BlendRoIHead, got "
            f'{type(model).__name__} (panoptic models: the panoptic fusion '
            'has no graph)'
        )
    else:
        _check_one_stage(model)
    for name, module in model.named_modules():
        if isinstance(module, (DeformConv2d, ModulatedDeformConv2d)):
            raise ValueError(
                f'op {type(module).__name__} ({name}; model.backbone.dcn / '
                'stage_with_dcn) cannot be exported: ONNX has no deformable '
                "convolution that onnxruntime runs (mmcv's symbolic needs "
                "mmcv's custom-op library); export a config without DCN"
            )


def _defining_class(cls: type, name: str) -> type:
    """The class of ``cls``'s MRO that defines the attribute ``name``."""
    return next(k for k in cls.__mro__ if name in k.__dict__)


def _check_blender(blender: Blender, key: str) -> None:
    if blender.pooler_type != 'RoIAlign':
        raise ValueError(
            f'op {blender.pooler_type} ({key}.blender.pooler='
            f"'{blender.pooler_type}') cannot be exported: ONNX MaxRoiPool "
            "rounds the box corners (Caffe's RoIPool), unlike mmcv's RoIPool "
            'that the model was trained with; export a RoIAlign config'
        )


def _check_nms(nms: Optional[dict], key: str) -> None:
    if nms is None or nms.get('type', 'nms') != 'nms':
        raise ValueError(
            f'{key}={nms!r}: ONNX export supports plain NMS '
            "(type='nms', ONNX NonMaxSuppression) only"
        )


def _check_one_stage(model: BlendMask) -> None:
    head = model.bbox_head
    if not isinstance(head, BlendHostMixin):
        raise ValueError(
            f'model.bbox_head {type(head).__name__} is not a '
            'host of the mixing mechanism'
        )
    if isinstance(head, TOODHead):
        raise ValueError(
            "op deform_conv2d (TOODHead's forward, deform_sampling; "
            "model.bbox_head.type='BlendTOODHead') cannot be exported: "
            'onnxruntime has no deformable convolution'
        )
    mro = type(head).__mro__
    post = next(
        k
        for k in mro[mro.index(BlendHostMixin) + 1 :]
        if '_bbox_post_process' in k.__dict__
    )
    if (post, '_bbox_post_process') not in rewritten_methods():
        raise ValueError(
            f'{post.__name__}._bbox_post_process (model.bbox_head.type='
            f"'{type(head).__name__}') has no traceable replacement in "
            'mmblend.deploy.rewrite: this host cannot be exported'
        )
    _check_blender(model.mask_head.blender, 'model.mask_head')
    _check_nms(head.test_cfg.get('nms'), 'model.test_cfg.nms')


def _check_two_stage(model: TwoStageDetector) -> None:
    """Mask R-CNN or Cascade Mask R-CNN with the blender mask head(s): what
    :class:`TwoStageDetectorExport` composes must be mmdet's RPN, the RoI
    head's own inference (:class:`~mmblend.models.BlendRoIHead` or
    :class:`~mmblend.models.BlendCascadeRoIHead`, not a subclass, whose
    inference could differ), BBoxHead's post-processing and
    SingleRoIExtractor's RoIAlign levels (each with its traceable
    replacement in :mod:`mmblend.deploy.rewrite`)."""
    roi_head = getattr(model, 'roi_head', None)
    if type(roi_head) not in (BlendRoIHead, BlendCascadeRoIHead):
        raise ValueError(
            f"model.roi_head.type='{type(roi_head).__name__}' cannot be "
            'exported: ONNX export of two-stage detectors supports '
            "BlendRoIHead and BlendCascadeRoIHead (Mask R-CNN and Cascade "
            'Mask R-CNN with the blender mask head)'
        )
    if not model.with_rpn:
        raise ValueError(
            'model.rpn_head is None: the export needs the RPN (proposals '
            'given from outside the graph are not supported)'
        )
    rpn = model.rpn_head
    for name in ('_predict_by_feat_single', '_bbox_post_process'):
        owner = _defining_class(type(rpn), name)
        if (owner, name) not in rewritten_methods():
            raise ValueError(
                f"{owner.__name__}.{name} (model.rpn_head.type='"
                f"{type(rpn).__name__}') has no traceable replacement in "
                'mmblend.deploy.rewrite: this RPN cannot be exported'
            )
    for key, head in _stages(roi_head, 'bbox_head'):
        for name in ('predict_by_feat', '_predict_by_feat_single'):
            if _defining_class(type(head), name) is not BBoxHead:
                raise ValueError(
                    f"model.roi_head.{key}.type='{type(head).__name__}' "
                    f"overrides BBoxHead.{name}: the export supports "
                    "BBoxHead's post-processing (mmdet's multiclass_nms) "
                    'only'
                )
    for key, extractor in _stages(roi_head, 'bbox_roi_extractor') + _stages(
        roi_head, 'mask_roi_extractor'
    ):
        owner = _defining_class(type(extractor), 'forward')
        if (owner, 'forward') not in rewritten_methods():
            raise ValueError(
                f'{owner.__name__}.forward (model.roi_head.{key}.type='
                f"'{type(extractor).__name__}') has no traceable "
                'replacement in mmblend.deploy.rewrite: use '
                'SingleRoIExtractor'
            )
        layer = extractor.roi_layers[0]
        if not isinstance(layer, RoIAlign):
            raise ValueError(
                f'op {type(layer).__name__} (model.roi_head.{key}.roi_layer.'
                f"type='{type(layer).__name__}') cannot be exported: ONNX "
                "MaxRoiPool rounds the box corners (Caffe's RoIPool), unlike "
                "mmcv's RoIPool; export a RoIAlign config"
            )
        try:
            ExportRoIAlign(layer)
        except ValueError as e:
            raise ValueError(f'{e} (model.roi_head.{key}.roi_layer)') from e
    for key, head in _stages(roi_head, 'mask_head'):
        _check_blender(head.blender, f'model.roi_head.{key}')
    cfg = model.test_cfg
    _check_nms(cfg.rpn.get('nms'), 'model.test_cfg.rpn.nms')
    _check_nms(cfg.rcnn.get('nms'), 'model.test_cfg.rcnn.nms')
    if cfg.rcnn.get('mask_thr_binary', 0.5) < 0:
        raise ValueError(
            'model.test_cfg.rcnn.mask_thr_binary='
            f'{cfg.rcnn.mask_thr_binary} (soft uint8 masks) is not '
            'supported by OnnxDetector: set it >= 0'
        )


def _stages(roi_head: nn.Module, name: str) -> List[Tuple[str, nn.Module]]:
    """``(config key, module)`` of an RoI head's ``name`` (e.g.
    ``bbox_head``), one per cascade stage (``bbox_head[1]``)."""
    modules = getattr(roi_head, name)
    if isinstance(modules, nn.ModuleList):
        return [(f'{name}[{i}]', m) for i, m in enumerate(modules)]
    return [(name, modules)]


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

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_exportable(model)
        self.model = model
        cfg = self.detection_cfg()
        self.score_thr = float(cfg.get('score_thr', 0))
        self.max_per_img = int(cfg.get('max_per_img', -1))

    def detection_cfg(self) -> dict:
        """The test config with the final ``score_thr`` and
        ``max_per_img``."""
        return self.model.bbox_head.test_cfg

    def score_cut(self) -> Tuple[float, float]:
        """The reported scores of a candidate at the score threshold."""
        return self.model.bbox_head.score_cut(self.score_thr)

    def forward(
        self, image: Tensor, img_shape: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        meta = image_meta(image, img_shape)
        model = self.model
        x = model.extract_feat(image)
        results = model.bbox_head.predict_by_feat(
            *model.bbox_head(x), batch_img_metas=[meta], rescale=False
        )
        bases = model.mask_head(x)[0]
        masks = model.mask_head.blend(bases, results)[0]
        r = results[0]
        return r.bboxes, r.scores, r.labels, masks


class TwoStageDetectorExport(DetectorExport):
    """A two-stage detector with the blender mask head (mmdet's
    ``MaskRCNN`` with :class:`~mmblend.models.BlendRoIHead`): its own
    inference on one preprocessed image, as a traceable module with
    :class:`DetectorExport`'s inputs and outputs.

    ``forward`` runs ``extract_feat``; the RPN's forward and
    ``predict_by_feat`` (``test_cfg.rpn``: proposals at the input scale,
    clipped to ``img_shape``); the RoI head's box prediction on the
    proposals (:meth:`detect`: class-specific decoding clipped to
    ``img_shape``, ``test_cfg.rcnn``'s ``score_thr``, NMS, ``max_per_img``)
    and its mask branch on the detections (:meth:`mask_probs`: bases, mask
    RoI features, attentions, blender), whose ``R x R`` logits it returns
    as probabilities. These are the RoI head's ``predict_bbox`` /
    ``predict_mask`` for one image, less their split of the batch by
    ``len()`` (which tracing would freeze) and ``predict_mask``'s pasting
    (``FCNMaskHead.predict_by_feat``), which
    :class:`~mmblend.deploy.OnnxDetector` does with the same
    ``_do_paste_mask`` and ``rcnn.mask_thr_binary``
    (:func:`~mmblend.models.dense_heads.blendmask_mask_head.
    postprocess_masks`).
    """

    def detection_cfg(self) -> dict:
        return self.model.roi_head.test_cfg

    def score_cut(self) -> Tuple[float, float]:
        """``multiclass_nms`` reports the thresholded softmax score."""
        return (self.score_thr, self.score_thr)

    def forward(
        self, image: Tensor, img_shape: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        meta = image_meta(image, img_shape)
        model = self.model
        x = model.extract_feat(image)
        proposals = model.rpn_head.predict_by_feat(
            *model.rpn_head(x), batch_img_metas=[meta], rescale=False
        )[0]
        dets = self.detect(x, bbox2roi([proposals.bboxes]), meta)
        probs = self.mask_probs(
            model.roi_head.with_bases(x), bbox2roi([dets.bboxes]), meta
        )
        return dets.bboxes, dets.scores, dets.labels, probs

    def detect(
        self, x: Tuple[Tensor], rois: Tensor, meta: dict
    ) -> InstanceData:
        """``StandardRoIHead.predict_bbox`` on ``rois [n, 5]``: the box
        branch, then ``BBoxHead.predict_by_feat``."""
        roi_head = self.model.roi_head
        bbox_results = roi_head._bbox_forward(x, rois)
        return roi_head.bbox_head.predict_by_feat(
            rois=(rois,),
            cls_scores=(bbox_results['cls_score'],),
            bbox_preds=(bbox_results['bbox_pred'],),
            batch_img_metas=[meta],
            rcnn_test_cfg=roi_head.test_cfg,
            rescale=False,
        )[0]

    def mask_probs(self, x: Tuple[Tensor], rois: Tensor, meta: dict) -> Tensor:
        """``[D, R, R]`` mask probabilities of the detections ``rois [D,
        5]`` (``x`` with the bases attached)."""
        return self.model.roi_head._mask_forward(x, rois)['mask_preds'][
            :, 0
        ].sigmoid()


class CascadeDetectorExport(TwoStageDetectorExport):
    """:class:`TwoStageDetectorExport` for Cascade Mask R-CNN with the
    blender mask heads (:class:`~mmblend.models.BlendCascadeRoIHead`): the
    box prediction is ``CascadeRoIHead.predict_bbox``'s (its
    ``_refine_roi``: every stage's box branch, the refinement of the RoIs
    by the stages before the last, the stages' scores averaged; the last
    stage's ``predict_by_feat``) and the mask is ``predict_mask``'s average
    of the stages' probabilities (mmdet's ``merge_aug_masks``)."""

    def detect(
        self, x: Tuple[Tensor], rois: Tensor, meta: dict
    ) -> InstanceData:
        roi_head = self.model.roi_head
        # the image's RoI count as a traced size (predict_bbox's len() of
        # the proposals would be frozen)
        rois, cls_scores, bbox_preds = roi_head._refine_roi(
            x, rois, [meta], (rois.shape[0],)
        )
        return roi_head.bbox_head[-1].predict_by_feat(
            rois=rois,
            cls_scores=cls_scores,
            bbox_preds=bbox_preds,
            batch_img_metas=[meta],
            rcnn_test_cfg=roi_head.test_cfg,
            rescale=False,
        )[0]

    def mask_probs(self, x: Tuple[Tensor], rois: Tensor, meta: dict) -> Tensor:
        roi_head = self.model.roi_head
        return merge_aug_masks(
            [
                roi_head._mask_forward(stage, x, rois)['mask_preds'].sigmoid()
                for stage in range(roi_head.num_stages)
            ],
            meta,
        )[:, 0]


def image_meta(image: Tensor, img_shape: Tensor) -> dict:
    """The image meta of the traced image: ``img_shape`` the graph input,
    the padded size from ``image``, no rescaling. A plain dict:
    DetDataSample deep-copies its metainfo, which would turn the traced
    ``img_shape`` into a constant."""
    size = image.shape[-2:]
    return dict(
        img_shape=img_shape,
        pad_shape=size,
        batch_input_shape=size,
        scale_factor=(1.0, 1.0),
    )


def export_module(model: nn.Module) -> DetectorExport:
    """The traceable inference of ``model``: :class:`DetectorExport` for a
    BlendMask, :class:`TwoStageDetectorExport` or
    :class:`CascadeDetectorExport` for a two-stage detector."""
    if not isinstance(model, TwoStageDetector):
        return DetectorExport(model)
    if isinstance(getattr(model, 'roi_head', None), BlendCascadeRoIHead):
        return CascadeDetectorExport(model)
    return TwoStageDetectorExport(model)


def export_onnx(
    model: nn.Module,
    inputs: Tensor,
    img_shape: Tensor,
    out_file: str,
    verify: bool = True,
) -> dict:
    """Trace ``model`` (a BlendMask or a two-stage detector with
    BlendRoIHead, in eval mode) on one preprocessed image and write
    ``out_file``.

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
    wrapper = export_module(model).eval()
    img_shape = img_shape.long()
    with torch.no_grad(), export_rewrites(model):
        ref = wrapper(inputs, img_shape)
        if ref[0].shape[0] == 0:
            raise ValueError(
                'the tracing image gives no detection: trace with a photo on '
                'which the model detects something (--image), or lower the '
                'threshold for tracing only with --trace-score-thr (the '
                "graph keeps the config's model.test_cfg.score_thr)"
            )
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', UserWarning)
            traced = torch.jit.trace(
                wrapper, (inputs, img_shape), check_trace=False
            )
            torch.onnx.export(
                traced,
                (inputs, img_shape),
                out_file,
                **TORCHSCRIPT_EXPORTER,
                opset_version=OPSET,
                input_names=INPUT_NAMES,
                output_names=OUTPUT_NAMES,
                dynamic_axes=DYNAMIC_AXES,
                do_constant_folding=True,
            )
    report = dict(num_dets=int(ref[0].shape[0]), opset=OPSET)
    if verify:
        report.update(verify_export(out_file, wrapper, inputs, img_shape))
    return report


def verify_export(
    onnx_file: str,
    wrapper: torch.nn.Module,
    inputs: Tensor,
    img_shape: Tensor,
    backend: str = 'onnxruntime',
) -> dict:
    """Check an exported graph against the PyTorch module it was traced from.

    Runs both on the tracing input and on two variants that a graph with a
    value frozen by tracing gets wrong: the input flipped left-right (other
    detections, same size) and padded by 32 pixels at the bottom and the
    right (other feature map sizes). Detections are matched with
    :func:`~mmblend.deploy.matching.match_detections` (by label and box IoU;
    near-tie swaps, one label tie and swaps at the score threshold or
    ``max_per_img`` cut are tolerated, since another CPU's kernels may break
    near-ties the other way).

    Args:
        onnx_file: the exported graph.
        wrapper: the traced module (:func:`export_module`).
        inputs: ``[1, 3, H, W]`` the tracing input.
        img_shape: ``[2]`` int64 its unpadded size.
        backend: the runtime (``'onnxruntime'`` or ``'openvino'``).

    Returns:
        dict: summed over the three inputs, how many detections were
        ``matched`` (paired), tolerated as ``swaps``, ``label_ties`` or at a
        ``cut``, and the
        worst ``max_rel_box``, ``max_abs_score`` and ``max_abs_mask`` of the
        pairs (box-relative mask probabilities).

    Raises:
        RuntimeError: a real mismatch, naming the input and the detections
            that differ.
    """
    runner = GraphRunner(onnx_file, backend)
    fields = ('bboxes', 'scores', 'labels', 'masks')
    variants = (
        ('the tracing input', inputs),
        ('the flipped input', inputs.flip(-1)),
        ('the padded input', F.pad(inputs, (0, 32, 0, 32))),
    )
    report = dict(
        matched=0,
        swaps=0,
        label_ties=0,
        cut=0,
        max_rel_box=0.0,
        max_abs_score=0.0,
        max_abs_mask=0.0,
    )
    for name, image in variants:
        with torch.no_grad(), export_rewrites(wrapper.model):
            ref = dict(zip(fields, wrapper(image, img_shape)))
        try:
            got = dict(zip(fields, runner.run(image, img_shape)))
        except Exception as e:  # onnxruntime's own errors
            raise RuntimeError(
                f'{onnx_file}: {backend} fails on {name} '
                f'(PyTorch runs it): {e}'
            ) from e
        match = match_detections(
            ref,
            got,
            score_atol=1e-4,
            box_rtol=1e-3,
            mask_tol=1e-3,
            score_intervals=cut_intervals(
                ref, got, wrapper.max_per_img, wrapper.score_cut()
            ),
            names=('PyTorch', backend),
        )
        if not match.ok:
            shown = '\n  '.join(match.problems[:10])
            more = len(match.problems) - 10
            raise RuntimeError(
                f'{onnx_file}: {backend} and PyTorch disagree on {name} '
                f'({len(got["scores"])} vs {len(ref["scores"])} detections; '
                f'{match.summary()}):\n  {shown}'
                + (f'\n  ... and {more} more' if more > 0 else '')
            )
        report['matched'] += len(match.pairs)
        report['swaps'] += len(match.swaps)
        report['label_ties'] += len(match.label_ties)
        report['cut'] += len(match.cut)
        for key, worst in (
            ('max_rel_box', 'box_rel'),
            ('max_abs_score', 'score'),
            ('max_abs_mask', 'mask'),
        ):
            report[key] = max(report[key], match.worst[worst])
    return report


def load_model(
    config: str, checkpoint: Optional[str], device: str = 'cpu'
) -> torch.nn.Module:
    """``init_detector`` with mmblend registered."""
    from mmdet.apis import init_detector

    import mmblend  # noqa: F401

    return init_detector(config, checkpoint, device=device)
