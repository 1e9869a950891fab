"""mmdet's detection transforms, also applied to keypoints.

Keypoints travel through a pipeline as ``results['gt_keypoints']``, float32
``[N, J, 3]`` ``(x, y, v)`` aligned with ``gt_bboxes`` (continuous pixel
coordinates, see :mod:`mmblend.datasets.coco_keypoint_dataset`); an
unlabelled keypoint (``v == 0``) is ``(0, 0, 0)`` and stays so. Each
transform is mmdet's (registered under a new name, mmdet's own are not
touched) and does exactly what mmdet's does to the image, boxes and masks:

* :class:`LoadAnnotationsWithKeypoints`: ``LoadAnnotations`` + the
  instances' ``keypoints``;
* :class:`ResizeWithKeypoints`: ``Resize``; ``x, y`` scaled by the
  ``scale_factor``. ``RandomResize`` and ``RandomChoiceResize`` resize with
  it through ``resize_type='ResizeWithKeypoints'``;
* :class:`RandomFlipWithKeypoints`: ``RandomFlip``; ``x -> w - x``
  (horizontal), ``y -> h - y`` (vertical), both (diagonal), and for the
  mirror images (horizontal and vertical, not the diagonal flip, which is a
  rotation by 180 degrees) the left/right partners swapped with
  ``results['flip_indices']`` (set by
  :class:`~mmblend.datasets.CocoKeypointDataset`), as mmpose's
  ``flip_keypoints``;
* :class:`RandomCropWithKeypoints`: ``RandomCrop``; keypoints shifted by
  the crop offset, those outside the crop made unlabelled (as detectron2),
  and dropped with the instances mmdet's crop drops;
* :class:`PackDetInputsWithKeypoints`: ``PackDetInputs``; the keypoints
  become ``gt_instances.keypoints`` (``ignored_instances.keypoints`` for
  crowd regions).

mmdet's ``Pad`` needs no variant: it pads at the bottom and right, which
moves no coordinate.
"""

from typing import Optional, Tuple, Union

import numpy as np
from mmdet.datasets.transforms import (
    LoadAnnotations,
    PackDetInputs,
    RandomCrop,
    RandomFlip,
    Resize,
)
from mmdet.registry import TRANSFORMS

KEY = 'gt_keypoints'


def flip_keypoints(
    keypoints: np.ndarray,
    img_shape: Tuple[int, int],
    direction: str,
    flip_indices: Optional[list] = None,
) -> np.ndarray:
    """Flip ``[N, J, 3]`` keypoints in an image of ``img_shape`` (h, w).

    ``direction``: 'horizontal' (``x -> w - x``), 'vertical'
    (``y -> h - y``) or 'diagonal' (both). Mirror flips (horizontal,
    vertical) also swap each keypoint with its partner ``flip_indices[j]``
    (required then). Unlabelled keypoints stay ``(0, 0, 0)``.
    """
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError(f'unknown flip direction {direction!r}')
    out = keypoints.copy()
    h, w = img_shape[:2]
    labelled = out[..., 2] > 0
    if direction in ('horizontal', 'diagonal'):
        out[..., 0] = np.where(labelled, w - out[..., 0], 0)
    if direction in ('vertical', 'diagonal'):
        out[..., 1] = np.where(labelled, h - out[..., 1], 0)
    if direction != 'diagonal':
        if flip_indices is None:
            raise KeyError(
                "flipping keypoints needs results['flip_indices'] (each "
                "keypoint's left/right partner), which CocoKeypointDataset "
                "sets from metainfo['flip_indices']; with another dataset "
                'add flip_indices to its samples'
            )
        if len(flip_indices) != out.shape[1]:
            raise ValueError(
                f'{len(flip_indices)} flip_indices for '
                f'{out.shape[1]} keypoints'
            )
        out = out[:, list(flip_indices)]
    return out


def drop_outside(
    keypoints: np.ndarray, img_shape: Tuple[int, int]
) -> np.ndarray:
    """Make keypoints outside ``[0, w] x [0, h]`` unlabelled ``(0, 0, 0)``
    (in place; returns ``keypoints``)."""
    h, w = img_shape[:2]
    x, y = keypoints[..., 0], keypoints[..., 1]
    outside = (x < 0) | (y < 0) | (x > w) | (y > h)
    keypoints[outside] = 0
    return keypoints


@TRANSFORMS.register_module()
class LoadAnnotationsWithKeypoints(LoadAnnotations):
    """mmdet's ``LoadAnnotations`` that also loads the instances'
    ``keypoints`` (``[J, 3]`` each, from
    :class:`~mmblend.datasets.CocoKeypointDataset`) into
    ``results['gt_keypoints']`` ``[N, J, 3]`` float32.

    Args:
        num_keypoints (int): J, for an image without instances (e.g. at
            inference). Defaults to 17 (COCO).
        **kwargs: as ``LoadAnnotations``.
    """

    def __init__(self, num_keypoints: int = 17, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_keypoints = num_keypoints

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        instances = results.get('instances', [])
        J = self.num_keypoints
        kps = np.zeros((len(instances), J, 3), np.float32)
        for i, instance in enumerate(instances):
            if 'keypoints' not in instance:
                raise KeyError(
                    'LoadAnnotationsWithKeypoints: an instance has no '
                    "'keypoints'; use dataset type CocoKeypointDataset "
                    '(or a dataset that gives keypoints)'
                )
            value = np.asarray(instance['keypoints'], np.float32)
            if value.shape != (J, 3):
                raise ValueError(
                    f'an instance has keypoints of shape {value.shape} but '
                    f'num_keypoints={J}: set LoadAnnotationsWithKeypoints('
                    'num_keypoints=...) in the pipeline to the dataset\'s'
                )
            kps[i] = value
        results[KEY] = kps
        return results

    def __repr__(self) -> str:
        return (
            super().__repr__()[:-1] + f', num_keypoints={self.num_keypoints})'
        )


@TRANSFORMS.register_module()
class ResizeWithKeypoints(Resize):
    """mmdet's ``Resize``; keypoints scaled by ``scale_factor`` (w, h)."""

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if results.get(KEY) is not None:
            kps = results[KEY].copy()
            kps[..., :2] *= np.asarray(results['scale_factor'], np.float32)
            results[KEY] = kps
        return results


@TRANSFORMS.register_module()
class RandomFlipWithKeypoints(RandomFlip):
    """mmdet's ``RandomFlip``; keypoints flipped and their left/right
    partners swapped (see :func:`flip_keypoints`)."""

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if results.get(KEY) is not None:
            results[KEY] = flip_keypoints(
                results[KEY],
                results['img'].shape[:2],
                results['flip_direction'],
                results.get('flip_indices'),
            )


@TRANSFORMS.register_module()
class RandomCropWithKeypoints(RandomCrop):
    """mmdet's ``RandomCrop``; keypoints shifted by the crop offset,
    unlabelled outside the crop, and kept for the instances mmdet keeps."""

    def _crop_data(
        self,
        results: dict,
        crop_size: Tuple[int, int],
        allow_negative_crop: bool,
    ) -> Union[dict, None]:
        kps = results.get(KEY)
        if kps is None or results.get('gt_bboxes') is None:
            return super()._crop_data(results, crop_size, allow_negative_crop)
        # mmdet's crop indexes gt_instances_ids with the instances it keeps
        # and records its offset in the homography matrix: both tell which
        # keypoints to keep and how far to move them.
        ids = results.get('gt_instances_ids')
        before = results.get('homography_matrix')
        results['gt_instances_ids'] = np.arange(len(kps))
        results = super()._crop_data(results, crop_size, allow_negative_crop)
        if results is None:
            return None
        kept = results.pop('gt_instances_ids')
        if ids is not None:
            results['gt_instances_ids'] = ids[kept]
        shift = results['homography_matrix']
        if before is not None:
            shift = shift @ np.linalg.inv(before)
        offset = np.round(shift[:2, 2]).astype(np.float32)  # -(x1, y1)
        kps = kps[kept].copy()
        labelled = kps[..., 2] > 0
        kps[..., :2] += offset
        kps[~labelled] = 0
        results[KEY] = drop_outside(kps, results['img_shape'])
        return results


@TRANSFORMS.register_module()
class PackDetInputsWithKeypoints(PackDetInputs):
    """mmdet's ``PackDetInputs``; ``gt_keypoints`` becomes
    ``gt_instances.keypoints`` ``[N, J, 3]`` (crowd regions':
    ``ignored_instances.keypoints``)."""

    mapping_table = dict(PackDetInputs.mapping_table, **{KEY: 'keypoints'})
