"""Inference with an exported BlendMask (or Mask R-CNN with the blender
mask head) on a CPU runtime: onnxruntime or OpenVINO (mmdeploy's two CPU
backends)."""

from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from ..models.dense_heads.blendmask_mask_head import postprocess_masks
from .preprocess import ImageType, Preprocessor, img_shape_tensor

BACKENDS = ('onnxruntime', 'openvino')


class GraphRunner:
    """An exported graph loaded by a runtime: :attr:`input_names` and
    :meth:`run`.

    Args:
        onnx_file: the exported model.
        backend: ``'onnxruntime'`` or ``'openvino'`` (CPU).
        num_threads: intra-op threads (the runtime's default when None).
        providers: onnxruntime execution providers (default CPU).
    """

    def __init__(
        self,
        onnx_file: str,
        backend: str = 'onnxruntime',
        num_threads: Optional[int] = None,
        providers=None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(
                f'backend must be one of {BACKENDS}, got {backend!r}'
            )
        self.backend = backend
        if backend == 'onnxruntime':
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise ImportError(
                    'the onnxruntime backend needs onnxruntime: pip install '
                    'onnxruntime (or mmblend[onnxruntime])'
                ) from e
            options = ort.SessionOptions()
            if num_threads:
                options.intra_op_num_threads = num_threads
            self._session = ort.InferenceSession(
                onnx_file,
                sess_options=options,
                providers=providers or ['CPUExecutionProvider'],
            )
            self.input_names = [i.name for i in self._session.get_inputs()]
        else:
            try:
                import openvino as ov
            except ImportError as e:
                raise ImportError(
                    'the openvino backend needs OpenVINO: pip install '
                    'openvino (or mmblend[openvino])'
                ) from e
            core = ov.Core()
            # OpenVINO runs in bfloat16 on CPUs that have it (AVX-512 BF16,
            # AMX), which moves scores by ~1e-3: float32 keeps PyTorch's
            config = {'INFERENCE_PRECISION_HINT': 'f32'}
            if num_threads:
                config['INFERENCE_NUM_THREADS'] = num_threads
            try:
                self._compiled = core.compile_model(
                    core.read_model(onnx_file), 'CPU', config
                )
            except RuntimeError as e:
                raise RuntimeError(
                    f'OpenVINO cannot run {onnx_file} (an operator it does '
                    f'not support is named below); use the onnxruntime '
                    f'backend:\n{e}'
                ) from e
            self.input_names = [
                i.get_any_name() for i in self._compiled.inputs
            ]
        if self.input_names not in (['image', 'img_shape'], ['image']):
            raise ValueError(
                f'{onnx_file} has inputs {self.input_names}, not (image, '
                'img_shape): export it with tools/deployment/export_onnx.py'
            )

    def feed(
        self, inputs: torch.Tensor, img_shape: torch.Tensor
    ) -> Dict[str, np.ndarray]:
        """The graph's inputs by name: ``image`` (``inputs [1, 3, H, W]``,
        float32) and, where the graph has it, ``img_shape [2]`` (a graph
        that does not clip boxes to the image, ``test_cfg.clip_after_mask``,
        has none)."""
        feed = dict(
            image=np.ascontiguousarray(inputs.numpy(), dtype=np.float32),
            img_shape=img_shape.numpy(),
        )
        return {name: feed[name] for name in self.input_names}

    def run(self, inputs: torch.Tensor, img_shape: torch.Tensor) -> List:
        """The graph on preprocessed ``inputs [1, 3, H, W]`` and
        ``img_shape [2]`` (see :meth:`feed`): numpy ``boxes [D, 4]`` (input
        scale), ``scores [D]``, ``labels [D]``, ``masks [D, R, R]``
        (probabilities)."""
        feed = self.feed(inputs, img_shape)
        if self.backend == 'onnxruntime':
            return self._session.run(None, feed)
        out = self._compiled(feed)
        return [np.asarray(out[port]) for port in self._compiled.outputs]


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
    detector's ``rcnn.mask_thr_binary``, see :func:`mask_test_cfg`); the
    runtime runs the graph on CPU; the boxes and box-relative ``R x R`` mask
    probabilities become instances with
    :func:`~mmblend.models.dense_heads.blendmask_mask_head.
    postprocess_masks`, as in the PyTorch model.

    Args:
        onnx_file (str): the exported model.
        config (str | Config): the config it was exported from.
        backend (str): ``'onnxruntime'`` (default) or ``'openvino'``.
        num_threads (int, optional): the runtime's intra-op threads.
        providers (list, optional): onnxruntime execution providers.
            Defaults to ``['CPUExecutionProvider']``.
    """

    def __init__(
        self,
        onnx_file: str,
        config: Union[str, Config],
        backend: str = 'onnxruntime',
        num_threads: Optional[int] = None,
        providers=None,
    ) -> None:
        self.preprocess = Preprocessor(config)
        self.test_cfg = mask_test_cfg(self.preprocess.cfg.model)
        self.runner = GraphRunner(onnx_file, backend, num_threads, providers)

    def run(self, inputs: torch.Tensor, img_shape: torch.Tensor) -> List:
        """The graph's raw outputs, see :meth:`GraphRunner.run`."""
        return self.runner.run(inputs, img_shape)

    def __call__(self, img: ImageType) -> DetDataSample:
        inputs, sample = self.preprocess(img)
        boxes, scores, labels, probs = self.run(
            inputs, img_shape_tensor(sample)
        )
        results = InstanceData(
            bboxes=torch.from_numpy(boxes),
            scores=torch.from_numpy(scores),
            labels=torch.from_numpy(labels),
        )
        out = DetDataSample(metainfo=sample.metainfo)
        out.pred_instances = postprocess_masks(
            results,
            torch.from_numpy(probs),
            sample.metainfo,
            True,
            self.test_cfg,
        )
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
