"""Deployment: ONNX export of BlendMask and onnxruntime inference.

* :func:`export_onnx` (CLI: ``tools/deployment/export_onnx.py``) writes a
  graph with the post-processing and the blender inside;
* :class:`OnnxDetector` runs it like ``inference_detector``.

onnxruntime is imported only when a model is run (``pip install
mmblend[onnxruntime]``).
"""
from .export import export_onnx
from .export_model import BlendMaskExport, check_exportable
from .onnx_detector import OnnxDetector
from .preprocess import Preprocessor

__all__ = [
    'BlendMaskExport', 'OnnxDetector', 'Preprocessor', 'check_exportable',
    'export_onnx'
]
