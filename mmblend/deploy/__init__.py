"""Deployment: ONNX export of BlendMask (and of Mask R-CNN / Cascade Mask
R-CNN with the blender mask head) and onnxruntime / OpenVINO inference.

* :func:`export_onnx` (CLI: ``tools/deployment/export_onnx.py``) traces the
  model's own inference (the host's post-processing and the blender
  inside) into a graph;
* :class:`OnnxDetector` runs it like ``inference_detector``.

onnxruntime is imported only when a model is run (``pip install
mmblend[onnxruntime]``).
"""

from .export import (
    CascadeDetectorExport,
    DetectorExport,
    TwoStageDetectorExport,
    check_exportable,
    export_module,
    export_onnx,
)
from .onnx_detector import OnnxDetector
from .preprocess import Preprocessor

__all__ = [
    'CascadeDetectorExport',
    'DetectorExport',
    'OnnxDetector',
    'Preprocessor',
    'TwoStageDetectorExport',
    'check_exportable',
    'export_module',
    'export_onnx',
]
