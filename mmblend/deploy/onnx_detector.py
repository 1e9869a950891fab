"""Inference with an exported BlendMask on onnxruntime."""
from typing import Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from ..models.dense_heads.blendmask_mask_head import paste_masks
from .preprocess import ImageType, Preprocessor, img_shape_tensor


class OnnxDetector:
    """An exported BlendMask (``tools/deployment/export_onnx.py``) as a
    drop-in for ``inference_detector(model, img)``.

    ``det = OnnxDetector('model.onnx', CONFIG); result = det(img)``: ``img``
    is a path or a BGR array; ``result`` a ``DetDataSample`` whose
    ``pred_instances`` has ``bboxes [D, 4]``, ``scores [D]``, ``labels
    [D]`` and ``masks [D, H, W]`` (bool) at the original image size.

    The config gives the preprocessing (test pipeline, data preprocessor)
    and ``model.test_cfg.mask_thr``; onnxruntime runs the graph (on CPU
    unless ``providers`` says otherwise); the box-relative ``R x R`` mask
    probabilities are pasted into the image with mmblend's
    :func:`~mmblend.models.dense_heads.blendmask_mask_head.paste_masks`,
    as the PyTorch model does.

    Args:
        onnx_file (str): the exported model.
        config (str | Config): the config it was exported from.
        providers (list, optional): onnxruntime execution providers.
            Defaults to ``['CPUExecutionProvider']``.
        session_options: an ``onnxruntime.SessionOptions`` (e.g. thread
            counts). Defaults to onnxruntime's.
    """

    def __init__(self, onnx_file: str, config: Union[str, Config],
                 providers=None, session_options=None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError(
                'OnnxDetector needs onnxruntime: pip install onnxruntime '
                '(or mmblend[onnxruntime])') from e
        self.preprocess = Preprocessor(config)
        test_cfg = self.preprocess.cfg.model.get('test_cfg') or {}
        self.mask_thr = float(test_cfg.get('mask_thr', 0.5))
        self.session = ort.InferenceSession(
            onnx_file, sess_options=session_options,
            providers=providers or ['CPUExecutionProvider'])
        names = [i.name for i in self.session.get_inputs()]
        if names != ['image', 'img_shape']:
            raise ValueError(
                f'{onnx_file} has inputs {names}, not (image, img_shape): '
                'export it with tools/deployment/export_onnx.py')

    def run(self, inputs: torch.Tensor, img_shape: torch.Tensor) -> tuple:
        """The graph on preprocessed ``inputs [1, 3, H, W]`` and
        ``img_shape [2]``: numpy ``boxes [D, 4]`` (input scale), ``scores
        [D]``, ``labels [D]``, ``masks [D, R, R]`` (probabilities)."""
        return tuple(self.session.run(None, {
            'image': np.ascontiguousarray(inputs.numpy(), dtype=np.float32),
            'img_shape': img_shape.numpy()
        }))

    def __call__(self, img: ImageType) -> DetDataSample:
        inputs, sample = self.preprocess(img)
        boxes, scores, labels, probs = self.run(inputs,
                                                img_shape_tensor(sample))
        boxes = torch.from_numpy(boxes)
        scale = boxes.new_tensor(sample.metainfo['scale_factor']).repeat(2)
        boxes = boxes / scale
        ori_h, ori_w = sample.metainfo['ori_shape'][:2]
        results = InstanceData(
            bboxes=boxes,
            scores=torch.from_numpy(scores),
            labels=torch.from_numpy(labels),
            masks=paste_masks(torch.from_numpy(probs), boxes, ori_h, ori_w,
                              self.mask_thr))
        out = DetDataSample(metainfo=sample.metainfo)
        out.pred_instances = results
        return out
