"""COCO person keypoints (``person_keypoints_*.json``) for detectors.

:class:`CocoKeypointDataset` is :class:`CocoInstanceDataset` (boxes, masks,
labels, crowd regions and every check of it) that also gives each instance
its keypoints, ``instances[i]['keypoints']`` ``[J, 3]`` float32 as
``(x, y, v)``:

* COCO stores keypoints as integer pixel indices; as detectron2 does
  (``load_coco_json``), 0.5 is added to ``x`` and ``y`` so that they are
  continuous coordinates on the same scale as boxes and polygons (the
  centre of pixel ``(i, j)`` is ``(i + 0.5, j + 0.5)``);
  :class:`~mmblend.evaluation.CocoKeypointMetric` subtracts it again when
  it writes predictions for pycocotools;
* ``v`` is COCO's visibility (0: not labelled, 1: labelled but occluded,
  2: visible); an unlabelled keypoint is ``(0, 0, 0)``;
* an annotation without ``keypoints`` (a crowd region, or another category)
  gets ``J`` unlabelled keypoints.

Every sample also carries ``flip_indices`` (the left/right partner of each
keypoint) for :class:`~mmblend.datasets.transforms.RandomFlipWithKeypoints`.

The keypoint layout is the dataset's ``metainfo``: ``keypoint_names``,
``skeleton`` (0-based index pairs), ``flip_indices`` and ``keypoint_sigmas``
(the OKS sigmas of the metric), COCO's 17 by default. The names must equal
those of the annotation file's keypoint category (checked when loading).
For another keypoint set give all four, e.g. ``metainfo=dict(classes=(...),
keypoint_names=[...], skeleton=[...], keypoint_sigmas=[...])``;
``flip_indices`` is derived from ``left_*``/``right_*`` names if omitted.
"""

from typing import List, Sequence, Union

import numpy as np
from mmdet.registry import DATASETS

from .coco_instance_dataset import CocoInstanceDataset

COCO_KEYPOINT_NAMES = (
    'nose',
    'left_eye',
    'right_eye',
    'left_ear',
    'right_ear',
    'left_shoulder',
    'right_shoulder',
    'left_elbow',
    'right_elbow',
    'left_wrist',
    'right_wrist',
    'left_hip',
    'right_hip',
    'left_knee',
    'right_knee',
    'left_ankle',
    'right_ankle',
)
# COCO's skeleton ("skeleton" of person_keypoints_*.json) with 0-based ids
COCO_SKELETON = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)
# COCO's OKS sigmas (cocoapi, pycocotools.cocoeval.Params.setKpParams)
COCO_KEYPOINT_SIGMAS = (
    0.026,
    0.025,
    0.025,
    0.035,
    0.035,
    0.079,
    0.079,
    0.072,
    0.072,
    0.062,
    0.062,
    0.107,
    0.107,
    0.087,
    0.087,
    0.089,
    0.089,
)


def flip_indices_from_names(names: Sequence[str]) -> List[int]:
    """Index of the mirror partner of each keypoint: ``left_x`` <->
    ``right_x``; a keypoint without a partner (``nose``) maps to itself."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for name in names:
        if name.startswith('left_'):
            partner = 'right_' + name[len('left_') :]
        elif name.startswith('right_'):
            partner = 'left_' + name[len('right_') :]
        else:
            partner = name
        out.append(index.get(partner, index[name]))
    return out


def keypoints_from_coco(
    values: Sequence[float], num_keypoints: int
) -> np.ndarray:
    """COCO's ``[x1, y1, v1, ...]`` (integer pixel indices) ->
    ``[J, 3]`` float32 continuous ``(x + 0.5, y + 0.5, v)``; unlabelled
    keypoints (v=0) are ``(0, 0, 0)``."""
    kps = np.asarray(values, dtype=np.float32).reshape(-1, 3)
    if len(kps) != num_keypoints:
        raise ValueError(f'{len(kps)} keypoints, expected {num_keypoints}')
    kps[:, :2] += 0.5
    kps[kps[:, 2] <= 0] = 0
    return kps


@DATASETS.register_module()
class CocoKeypointDataset(CocoInstanceDataset):
    """COCO instances with person keypoints (see the module docstring).

    Args:
        *args, **kwargs: as :class:`CocoInstanceDataset`. ``filter_cfg``
            also takes ``min_keypoints`` (training only): drop images with
            fewer labelled keypoints (v > 0, non-crowd instances) in all,
            detectron2's ``MIN_KEYPOINTS_PER_IMAGE`` (1 in its keypoint
            configs). Defaults to 0 (keep all).
    """

    METAINFO = dict(
        classes=('person',),
        palette=[(220, 20, 60)],
        keypoint_names=COCO_KEYPOINT_NAMES,
        skeleton=COCO_SKELETON,
        keypoint_sigmas=COCO_KEYPOINT_SIGMAS,
    )

    @classmethod
    def _load_metainfo(cls, metainfo: dict = None) -> dict:
        meta = super()._load_metainfo(metainfo)
        names = list(meta['keypoint_names'])
        if 'flip_indices' not in meta:
            meta['flip_indices'] = flip_indices_from_names(names)
        for key in ('flip_indices', 'keypoint_sigmas'):
            if len(meta[key]) != len(names):
                raise ValueError(
                    f"metainfo['{key}'] has {len(meta[key])} entries but "
                    f"metainfo['keypoint_names'] names {len(names)} "
                    'keypoints; give one per keypoint'
                )
        return meta

    @property
    def num_keypoints(self) -> int:
        return len(self.metainfo['keypoint_names'])

    def _check_classes(self, categories: List[dict]) -> None:
        super()._check_classes(categories)
        names = list(self.metainfo['keypoint_names'])
        with_kps = [c for c in categories if 'keypoints' in c]
        if not with_kps:
            raise ValueError(
                f"annotation file '{self.ann_file}' has no category with "
                "'keypoints' (a COCO person_keypoints_*.json has one); "
                'point ann_file at a keypoint annotation file'
            )
        for cat in with_kps:
            if list(cat['keypoints']) != names:
                raise ValueError(
                    f"category '{cat['name']}' of annotation file "
                    f"'{self.ann_file}' has the keypoints "
                    f"{cat['keypoints']} but the dataset's "
                    f"metainfo['keypoint_names'] is {names}; set metainfo="
                    'dict(keypoint_names=..., skeleton=..., '
                    'keypoint_sigmas=...) in the dataset config to the '
                    "file's keypoints"
                )

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        data_info = super().parse_data_info(raw_data_info)
        img_info = raw_data_info['raw_img_info']
        cat_ids = set(self.cat_ids)
        # the annotations that became instances, in order (the skip rules
        # of CocoDataset.parse_data_info and missing_mask='skip')
        anns = [
            a
            for a in raw_data_info['raw_ann_info']
            if self._becomes_instance(a, img_info, cat_ids)
        ]
        if self.missing_mask == 'skip' and getattr(
            self, '_loads_masks', False
        ):
            anns = [a for a in anns if a.get('segmentation')]
        instances = data_info['instances']
        if len(anns) != len(instances):
            raise RuntimeError(
                f'{type(self).__name__}: {len(instances)} instances but '
                f'{len(anns)} annotations in image {img_info["img_id"]}; the '
                'skip rules of CocoDataset.parse_data_info changed'
            )
        J = self.num_keypoints
        for ann, instance in zip(anns, instances):
            values = ann.get('keypoints')
            if not values:
                instance['keypoints'] = np.zeros((J, 3), np.float32)
                continue
            try:
                instance['keypoints'] = keypoints_from_coco(values, J)
            except ValueError as e:
                raise ValueError(
                    f"annotation id {ann['id']} (image id "
                    f"{img_info['img_id']}) of '{self.ann_file}': {e} "
                    "(metainfo['keypoint_names'] names "
                    f'{J}); the keypoints must be 3 values per keypoint'
                ) from e
        data_info['flip_indices'] = list(self.metainfo['flip_indices'])
        return data_info

    def filter_data(self) -> List[dict]:
        """:meth:`CocoInstanceDataset.filter_data`, then (training)
        ``filter_cfg.min_keypoints``."""
        valid = super().filter_data()
        min_kps = (self.filter_cfg or {}).get('min_keypoints', 0)
        if self.test_mode or not min_kps:
            return valid

        def labelled(info):
            return sum(
                int((inst['keypoints'][:, 2] > 0).sum())
                for inst in info['instances']
                if not inst['ignore_flag']
            )

        kept = [info for info in valid if labelled(info) >= min_kps]
        if not kept:
            raise ValueError(
                f"no image of annotation file '{self.ann_file}' has "
                f'{min_kps} labelled keypoints (filter_cfg.min_keypoints='
                f'{min_kps}); lower it or check the annotations'
            )
        return kept
