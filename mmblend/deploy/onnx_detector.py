"""Inference with an exported BlendMask (or Mask R-CNN with the blender)
on onnxruntime."""
from typing import Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from ..models.dense_heads.blendmask_mask_head import postprocess_masks
from .preprocess import ImageType, Preprocessor, img_shape_tensor


class OnnxDetector:
    """An exported BlendMask or two-stage detector with the blender mask
    head (``tools/deployment/export_onnx.py``) as a drop-in for
    ``inference_detector(model, img)``.

    ``det = OnnxDetector('model.onnx', CONFIG); result = det(img)``: ``img``
    is a path or a BGR array; ``result`` a ``DetDataSample`` whose
    ``pred_instances`` has ``bboxes [D, 4]``, ``scores [D]``, ``labels
    [D]`` and ``masks [D, H, W]`` (bool) at the original image size.

    The config gives the preprocessing (test pipeline, data preprocessor)
    and ``model.test_cfg`` (``mask_thr``, the clipping order; a two-stage
    detector's ``rcnn.mask_thr_binary``, see :func:`mask_test_cfg`);
    onnxruntime runs the graph (on CPU unless ``providers`` says otherwise);
    the boxes and box-relative ``R x R`` mask probabilities become instances with
    :func:`~mmblend.models.dense_heads.blendmask_mask_head.
    postprocess_masks`, as in the PyTorch model.

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
        self.test_cfg = mask_test_cfg(self.preprocess.cfg.model)
        self.session = ort.InferenceSession(
            onnx_file, sess_options=session_options,
            providers=providers or ['CPUExecutionProvider'])
        self.input_names = [i.name for i in self.session.get_inputs()]
        if self.input_names not in (['image', 'img_shape'], ['image']):
            raise ValueError(
                f'{onnx_file} has inputs {self.input_names}, not (image, '
                'img_shape): export it with tools/deployment/export_onnx.py')

    def run(self, inputs: torch.Tensor, img_shape: torch.Tensor) -> tuple:
        """The graph on preprocessed ``inputs [1, 3, H, W]`` and
        ``img_shape [2]``: numpy ``boxes [D, 4]`` (input scale), ``scores
        [D]``, ``labels [D]``, ``masks [D, R, R]`` (probabilities)."""
        return run_graph(self.session, inputs, img_shape)

    def __call__(self, img: ImageType) -> DetDataSample:
        inputs, sample = self.preprocess(img)
        boxes, scores, labels, probs = self.run(inputs,
                                                img_shape_tensor(sample))
        results = InstanceData(
            bboxes=torch.from_numpy(boxes), scores=torch.from_numpy(scores),
            labels=torch.from_numpy(labels))
        out = DetDataSample(metainfo=sample.metainfo)
        out.pred_instances = postprocess_masks(
            results, torch.from_numpy(probs), sample.metainfo, True,
            self.test_cfg)
        return out


def mask_test_cfg(model_cfg) -> dict:
    """The keys :func:`~mmblend.models.dense_heads.blendmask_mask_head.
    postprocess_masks` reads: a BlendMask's ``model.test_cfg``; for a
    two-stage detector (``test_cfg.rcnn``) ``mask_thr`` is
    ``rcnn.mask_thr_binary``, the threshold of ``FCNMaskHead``'s pasting
    (the same ``_do_paste_mask`` of the probabilities into the boxes at the
    original size; its boxes were clipped before the mask head)."""
    test_cfg = model_cfg.get('test_cfg') or {}
    if 'rcnn' in test_cfg:
        return dict(mask_thr=test_cfg['rcnn'].get('mask_thr_binary', 0.5))
    return test_cfg


def run_graph(session, inputs: torch.Tensor, img_shape: torch.Tensor) -> list:
    """Run an exported graph (an onnxruntime ``InferenceSession``) on
    ``inputs [1, 3, H, W]`` and ``img_shape [2]``; a graph that does not
    clip boxes to the image (``test_cfg.clip_after_mask``) has no
    ``img_shape`` input."""
    feed = dict(image=np.ascontiguousarray(inputs.numpy(), dtype=np.float32),
                img_shape=img_shape.numpy())
    return session.run(None, {i.name: feed[i.name]
                              for i in session.get_inputs()})
