"""mmdet's ``DetDataPreprocessor`` that also takes grayscale images."""

from typing import Union

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS


@MODELS.register_module()
class GrayAwareDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` that repeats a 1-channel image to 3 channels
    when the model normalises 3 channels (``mean``/``std`` of 3 values).

    Where grayscale images come from: a 2-D array passed to mmdet's
    ``inference_detector`` or ``DetInferencer`` (their first pipeline step,
    mmdet's ``LoadImageFromNDArray``, keeps the array as it is; mmdet's
    ``PackDetInputs`` makes it ``(1, H, W)``) or a loader with
    ``color_type='grayscale'``. mmengine's preprocessor then fails with an
    ``IndexError`` (``bgr_to_rgb`` indexes channels 2, 1, 0) or an assertion.
    Gray repeated to B = G = R is what OpenCV's ``IMREAD_COLOR`` makes of a
    grayscale file, so the model sees the same input as for that file.
    Images with 3 channels (and 4: BGRA, whose alpha ``bgr_to_rgb`` drops)
    are passed on unchanged. Arguments: those of ``DetDataPreprocessor``.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """Repeat 1-channel inputs (``(1, H, W)`` tensors of a list, or an
        ``(N, 1, H, W)`` batch) to 3 channels, then ``DetDataPreprocessor``.
        """
        if self._enable_normalize and self.mean.shape[0] == 3:
            data = dict(data, inputs=self._to_3_channels(data['inputs']))
        return super().forward(data, training)

    @staticmethod
    def _to_3_channels(inputs: Union[torch.Tensor, list]):
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() == 4 and inputs.shape[1] == 1:
                return inputs.expand(-1, 3, -1, -1)
            return inputs
        return [
            x.expand(3, -1, -1)
            if isinstance(x, torch.Tensor) and x.dim() == 3 and x.shape[0] == 1
            else x
            for x in inputs
        ]
