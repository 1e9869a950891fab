"""mmdet's ``BatchSyncRandomResize`` (YOLOX's multi-scale training) that
also resizes the GT masks."""

from typing import List, Tuple

from mmdet.models.data_preprocessors import BatchSyncRandomResize
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from torch import Tensor


@MODELS.register_module()
class BatchSyncRandomResizeWithMasks(BatchSyncRandomResize):
    """``BatchSyncRandomResize`` for instance segmentation.

    mmdet's batch augment resizes the images and the GT boxes to a size
    drawn every ``interval`` iterations but leaves the GT masks at the old
    size, so a mask head would train on masks that no longer match their
    boxes. This one resizes the masks (Bitmap or Polygon) by the same
    factors. Arguments: those of ``BatchSyncRandomResize``.

    Shapes: ``inputs [B, 3, H, W]`` -> ``[B, 3, H', W']``; each sample's
    ``gt_instances.masks`` of size ``(h, w)`` -> ``(h * H'/H, w * W'/W)``
    (the padded batch size when the data preprocessor pads them,
    ``pad_mask=True``).
    """

    def forward(
        self, inputs: Tensor, data_samples: List[DetDataSample]
    ) -> Tuple[Tensor, List[DetDataSample]]:
        h, w = inputs.shape[-2:]
        inputs, data_samples = super().forward(inputs, data_samples)
        new_h, new_w = inputs.shape[-2:]
        if (new_h, new_w) != (h, w):
            for sample in data_samples:
                masks = sample.gt_instances.get('masks')
                if masks is not None:
                    sample.gt_instances.masks = masks.resize(
                        (
                            round(masks.height * new_h / h),
                            round(masks.width * new_w / w),
                        )
                    )
        return inputs, data_samples
