"""Export a trained BlendMask to ONNX.

Exporter: the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``),
because torch 2.13's default ``dynamo=True`` cannot take mmcv's compiled ops
and the TorchScript exporter honours an ``autograd.Function``'s ``symbolic``,
which is how :mod:`mmblend.deploy.ops` emits ``NonMaxSuppression`` and
``RoiAlign``. Opset 16: the first with ``RoiAlign``'s
``coordinate_transformation_mode='half_pixel'`` (mmcv's ``aligned=True``).
"""
import inspect
import warnings
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .export_model import BlendMaskExport
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
#: ``torch.onnx.export`` keyword arguments that select the TorchScript
#: exporter: ``dynamo=False`` where the argument exists (torch >= 2.5;
#: before it, the TorchScript exporter is the only one).
TORCHSCRIPT_EXPORTER = ({
    'dynamo': False
} if 'dynamo' in inspect.signature(torch.onnx.export).parameters else {})


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
        verify: run the file with onnxruntime on ``inputs`` and compare with
            the PyTorch outputs.

    Returns:
        dict: ``num_dets`` of the tracing image and, with ``verify``, the
        largest differences (``max_abs_box``, ``max_abs_score``,
        ``max_abs_mask``).

    Raises:
        ValueError: the model cannot be exported (the op and config key are
            named) or the tracing image gives no detection.
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
                wrapper, (inputs, img_shape), out_file,
                **TORCHSCRIPT_EXPORTER,
                opset_version=OPSET, input_names=INPUT_NAMES,
                output_names=OUTPUT_NAMES, dynamic_axes=DYNAMIC_AXES,
                do_constant_folding=True)
    report = dict(num_dets=int(ref[0].shape[0]), opset=OPSET)
    if verify:
        import onnxruntime as ort
        sess = ort.InferenceSession(out_file,
                                    providers=['CPUExecutionProvider'])
        outs = sess.run(None, {'image': inputs.numpy(),
                               'img_shape': img_shape.numpy()})
        if outs[0].shape != tuple(ref[0].shape) or not np.array_equal(
                outs[2], ref[2].numpy()):
            raise RuntimeError(
                f'{out_file}: onnxruntime gives {outs[0].shape[0]} '
                f'detections on the tracing image, PyTorch '
                f'{ref[0].shape[0]} (or other labels)')
        for name, i in (('max_abs_box', 0), ('max_abs_score', 1),
                        ('max_abs_mask', 3)):
            report[name] = float(np.abs(outs[i] - ref[i].numpy()).max())
    return report


def load_model(config: str, checkpoint: Optional[str],
               device: str = 'cpu') -> torch.nn.Module:
    """``init_detector`` with mmblend registered."""
    from mmdet.apis import init_detector

    import mmblend  # noqa: F401
    return init_detector(config, checkpoint, device=device)
