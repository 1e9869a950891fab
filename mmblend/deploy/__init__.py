"""Deployment: ONNX export of BlendMask and onnxruntime inference.

* :func:`export_onnx` (CLI: ``tools/deployment/export_onnx.py``) traces the
  model's own inference (the host's post-processing and the blender
  inside) into a graph;
* :class:`OnnxDetector` runs it like ``inference_detector``.

onnxruntime is imported only when a model is run (``pip install
mmblend[onnxruntime]``).
"""
from .export import DetectorExport, check_exportable, export_onnx
from .onnx_detector import OnnxDetector
from .preprocess import Preprocessor

__all__ = [
    'DetectorExport', 'OnnxDetector', 'Preprocessor', 'check_exportable',
    'export_onnx'
]
