"""A config's test pipeline and data preprocessor, without the model."""

from typing import Tuple, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor

ImageType = Union[str, np.ndarray]


class Preprocessor:
    """Prepares one image as ``inference_detector`` does for a model built
    from ``config``: the config's test pipeline (``LoadImageFromNDArray``
    for arrays), then its ``model.data_preprocessor`` (normalisation, BGR
    to RGB, padding).

    Args:
        config (str | Config): the model's config.
    """

    def __init__(self, config: Union[str, Config]) -> None:
        import mmblend  # noqa: F401  (registers mmblend's modules)

        cfg = Config.fromfile(config) if isinstance(config, str) else config
        self.cfg = cfg
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        self.pipeline_cfg = get_test_pipeline_cfg(cfg.copy())
        self.file_pipeline = Compose(self.pipeline_cfg)
        array_cfg = [dict(t) for t in self.pipeline_cfg]
        array_cfg[0]['type'] = 'mmdet.LoadImageFromNDArray'
        self.array_pipeline = Compose(array_cfg)
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.data_preprocessor.eval()

    def __call__(self, img: ImageType) -> Tuple[Tensor, DetDataSample]:
        """``img``: a path or a BGR ``uint8`` array ``[H, W, 3]`` (or
        ``[H, W]`` gray). Returns ``(inputs [1, 3, Hp, Wp] float32,
        data_sample)`` with the sample's ``img_shape``, ``ori_shape``,
        ``scale_factor`` and ``batch_input_shape``."""
        if isinstance(img, np.ndarray):
            data = self.array_pipeline(dict(img=img, img_id=0))
        elif isinstance(img, str):
            data = self.file_pipeline(dict(img_path=img, img_id=0))
        else:
            raise TypeError(
                'img must be an image path or a BGR numpy array, '
                f'got {type(img).__name__}'
            )
        if data is None:
            raise ValueError(f'the test pipeline could not load {img!r}')
        with torch.no_grad():
            batch = self.data_preprocessor(
                dict(
                    inputs=[data['inputs']],
                    data_samples=[data['data_samples']],
                ),
                False,
            )
        return batch['inputs'].float(), batch['data_samples'][0]


def img_shape_tensor(data_sample: DetDataSample) -> Tensor:
    """``[2]`` int64 ``(height, width)`` of the resized image before
    padding: the exported graph's ``img_shape`` input."""
    h, w = data_sample.metainfo['img_shape'][:2]
    return torch.tensor([h, w], dtype=torch.long)
