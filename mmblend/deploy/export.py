"""Export a trained BlendMask to ONNX.

Exporter: the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``),
because torch 2.13's default ``dynamo=True`` cannot take mmcv's compiled ops
and the TorchScript exporter honours an ``autograd.Function``'s ``symbolic``,
which is how :mod:`mmblend.deploy.ops` emits ``NonMaxSuppression`` and
``RoiAlign``. Opset 16: the first with ``RoiAlign``'s
``coordinate_transformation_mode='half_pixel'`` (mmcv's ``aligned=True``).
"""
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .export_model import BlendMaskExport
from .matching import cut_intervals, match_detections
from .ops import OPSET

INPUT_NAMES = ['image', 'img_shape']
OUTPUT_NAMES = ['boxes', 'scores', 'labels', 'masks']
DYNAMIC_AXES = {
    'image': {2: 'height', 3: 'width'},
    'boxes': {0: 'num_dets'},
    'scores': {0: 'num_dets'},
    'labels': {0: 'num_dets'},
    'masks': {0: 'num_dets'},
}


def export_onnx(model: torch.nn.Module, inputs: Tensor, img_shape: Tensor,
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
    wrapper = BlendMaskExport(model).eval()
    img_shape = img_shape.long()
    with torch.no_grad():
        ref = wrapper(inputs, img_shape)
    if ref[0].shape[0] == 0:
        raise ValueError(
            'the tracing image gives no detection: trace with a photo on '
            'which the model detects something (--image)')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.simplefilter('ignore', DeprecationWarning)
        with torch.no_grad():
            torch.onnx.export(
                wrapper, (inputs, img_shape), out_file, dynamo=False,
                opset_version=OPSET, input_names=INPUT_NAMES,
                output_names=OUTPUT_NAMES, dynamic_axes=DYNAMIC_AXES,
                do_constant_folding=True)
    report = dict(num_dets=int(ref[0].shape[0]), opset=OPSET)
    if verify:
        report.update(verify_export(out_file, wrapper, inputs, img_shape))
    return report


def verify_export(onnx_file: str, wrapper: torch.nn.Module, inputs: Tensor,
                  img_shape: Tensor) -> dict:
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
        wrapper: the traced module: ``(image, img_shape) -> (boxes, scores,
            labels, masks)``, with ``max_per_img`` and ``score_cut()``.
        inputs: ``[1, 3, H, W]`` the tracing input.
        img_shape: ``[2]`` int64 its unpadded size.

    Returns:
        dict: summed over the three inputs, how many detections were
        ``matched`` (paired), tolerated as ``swaps`` or at a ``cut``, and the
        worst ``max_rel_box``, ``max_abs_score`` and ``max_abs_mask`` of the
        pairs (box-relative mask probabilities).

    Raises:
        RuntimeError: a real mismatch, naming the input and the detections
            that differ.
    """
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    fields = ('bboxes', 'scores', 'labels', 'masks')
    variants = (('the tracing input', inputs),
                ('the flipped input', inputs.flip(-1)),
                ('the padded input', F.pad(inputs, (0, 32, 0, 32))))
    report = dict(matched=0, swaps=0, cut=0, max_rel_box=0.0,
                  max_abs_score=0.0, max_abs_mask=0.0)
    for name, image in variants:
        with torch.no_grad():
            ref = dict(zip(fields, wrapper(image, img_shape)))
        got = dict(zip(fields, sess.run(None, {
            'image': image.contiguous().numpy(),
            'img_shape': img_shape.numpy()})))
        match = match_detections(
            ref, got, score_atol=1e-4, box_rtol=1e-3, mask_tol=1e-3,
            score_intervals=cut_intervals(ref, got, wrapper.max_per_img,
                                          wrapper.score_cut()),
            names=('PyTorch', 'onnxruntime'))
        if not match.ok:
            shown = '\n  '.join(match.problems[:10])
            more = len(match.problems) - 10
            raise RuntimeError(
                f'{onnx_file}: onnxruntime and PyTorch disagree on {name} '
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
