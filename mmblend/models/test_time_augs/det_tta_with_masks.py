"""Test-time augmentation that merges instance masks with their boxes."""

from typing import List

import torch
from mmcv.ops import batched_nms
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from torch import Tensor

# Image axes a flip direction reverses, for masks ``[N, H, W]``.
_FLIP_DIMS = {
    'horizontal': (-1,),
    'vertical': (-2,),
    'diagonal': (-2, -1),
}


@MODELS.register_module()
class DetTTAModelWithMasks(DetTTAModel):
    """mmdet's :class:`~mmdet.models.DetTTAModel` for instance segmentation.

    mmdet's merge refuses predictions with masks. This one merges the views
    of one image (flips and scales, from a ``TestTimeAug`` pipeline whose
    ``PackDetInputs`` keeps ``flip`` and ``flip_direction``) as follows:
    every view's boxes and masks are mapped back to the unflipped original
    image (all views predict at ``ori_shape``, ``rescale=True``), all
    detections are pooled, class-aware NMS (``tta_cfg.nms``) keeps the best
    ones, and each kept detection keeps its own mask; at most
    ``tta_cfg.max_per_img`` remain, in decreasing score order. The merged
    sample carries the meta of the first unflipped view.

    Panoptic detectors are refused when built: their semantic maps and
    fused panoptic segmentation have no merge here.

    Example (``configs/_base_/default_runtime.py``)::

        tta_model = dict(
            type='DetTTAModelWithMasks',
            tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                         max_per_img=100))
    """

    def __init__(self, tta_cfg=None, **kwargs) -> None:
        super().__init__(tta_cfg=tta_cfg, **kwargs)
        if (
            tta_cfg is None
            or 'nms' not in tta_cfg
            or 'max_per_img' not in tta_cfg
        ):
            raise ValueError(
                'DetTTAModelWithMasks needs tta_cfg=dict(nms=dict(type='
                "'nms', iou_threshold=...), max_per_img=...), got "
                f'{tta_cfg!r}'
            )
        if hasattr(self.module, 'panoptic_fusion_head'):
            raise NotImplementedError(
                f'test-time augmentation is not defined for the panoptic '
                f'detector {type(self.module).__name__} (its semantic and '
                'panoptic maps have no merge): run tools/test.py without '
                '--tta'
            )

    def merge_aug_masks(
        self, aug_masks: List[Tensor], img_metas: List[dict]
    ) -> Tensor:
        """Unflip every view's masks and concatenate them.

        Args:
            aug_masks: per view ``[N_i, H, W]`` masks at ``ori_shape``.
            img_metas: per view meta with ``ori_shape``, ``flip`` and
                ``flip_direction``.

        Returns:
            Tensor: ``[sum N_i, H, W]``.
        """
        recovered = []
        for masks, meta in zip(aug_masks, img_metas):
            ori_h, ori_w = meta['ori_shape'][:2]
            if tuple(masks.shape[-2:]) != (ori_h, ori_w):
                raise ValueError(
                    f'TTA merges masks at the original image size '
                    f'{(ori_h, ori_w)}, got masks of size '
                    f'{tuple(masks.shape[-2:])}: the detector must predict '
                    'with rescale=True'
                )
            if meta['flip']:
                direction = meta['flip_direction']
                if direction not in _FLIP_DIMS:
                    raise ValueError(
                        f'unknown flip_direction {direction!r}, expected '
                        f'one of {sorted(_FLIP_DIMS)}'
                    )
                masks = masks.flip(_FLIP_DIMS[direction])
            recovered.append(masks)
        return torch.cat(recovered)

    def _merge_single_sample(
        self, data_samples: List[DetDataSample]
    ) -> DetDataSample:
        """Merge the views of one image (boxes, scores, labels, masks)."""
        img_metas = [s.metainfo for s in data_samples]
        for meta in img_metas:
            missing = [
                k
                for k in ('flip', 'flip_direction', 'ori_shape')
                if k not in meta
            ]
            if missing:
                raise KeyError(
                    f'TTA needs {missing} in the data sample meta: add '
                    "'flip' and 'flip_direction' to PackDetInputs' "
                    'meta_keys in tta_pipeline'
                )
        preds = [s.pred_instances for s in data_samples]
        if any('masks' not in p for p in preds):
            raise KeyError(
                'DetTTAModelWithMasks merges instance masks, but '
                'a view has no pred_instances.masks'
            )
        bboxes, scores = self.merge_aug_bboxes(
            [p.bboxes for p in preds], [p.scores for p in preds], img_metas
        )
        labels = torch.cat([p.labels for p in preds])
        masks = self.merge_aug_masks([p.masks for p in preds], img_metas)

        if len(bboxes) > 0:
            _, keep = batched_nms(bboxes, scores, labels, self.tta_cfg['nms'])
            keep = keep[: self.tta_cfg['max_per_img']]
        else:
            keep = labels.new_zeros(0)
        results = InstanceData()
        results.bboxes = bboxes[keep]
        results.scores = scores[keep]
        results.labels = labels[keep]
        results.masks = masks[keep]
        # the result keeps the meta of an unflipped view (the first one)
        merged = next(
            (s for s in data_samples if not s.metainfo['flip']),
            data_samples[0],
        )
        merged.pred_instances = results
        return merged
