"""Drop-in for ``panopticapi.evaluation`` (COCO panoptic quality).

Semantics follow the official ``cocodataset/panopticapi`` exactly:

* a GT segment and a predicted segment of the same category match when
  ``IoU > 0.5`` with ``IoU = |G & P| / (|G| + |P| - |G & P| - |VOID & P|)``,
  i.e. the part of the prediction lying on VOID pixels is removed from the
  union (``|G|`` is the GT json ``area``, ``|P|`` is counted in the PNG);
* ``iscrowd`` GT segments are never matched; unmatched non-crowd GT segments
  are false negatives;
* an unmatched predicted segment is a false positive unless more than half of
  it lies on VOID plus the crowd region of its own category;
* IoU > 0.5 makes matching unique, so no assignment problem is solved.
"""

import json
import multiprocessing
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .pq_stat import PQStat
from .pq_stat_cat import PQStatCat
from .utils import get_traceback, rgb2id

__all__ = [
    'OFFSET',
    'VOID',
    'PQStat',
    'PQStatCat',
    'pq_compute_single_image',
    'pq_compute_single_core',
    'pq_compute_multi_core',
    'pq_compute',
]

OFFSET = 256 * 256 * 256
VOID = 0


def _count_pred_areas(
    pan_pred: np.ndarray,
    pred_segms: Dict[int, dict],
    categories: Dict[int, dict],
    image_id: object,
) -> None:
    """Set each predicted segment's ``area`` (its pixels in ``pan_pred``);
    ``KeyError`` for a segment only in the PNG or only in the JSON, or of an
    unknown category."""
    pred_labels_set = set(pred_segms)
    labels, labels_cnt = np.unique(pan_pred, return_counts=True)
    for label, label_cnt in zip(labels.tolist(), labels_cnt.tolist()):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise KeyError(
                f'In the image with ID {image_id} segment with ID {label} is '
                'presented in PNG and not presented in JSON.'
            )
        pred_segms[label]['area'] = label_cnt
        pred_labels_set.remove(label)
        if pred_segms[label]['category_id'] not in categories:
            raise KeyError(
                f'In the image with ID {image_id} segment with ID {label} has '
                f"unknown category_id {pred_segms[label]['category_id']}."
            )
    if len(pred_labels_set) != 0:
        raise KeyError(
            f'In the image with ID {image_id} the following segment IDs '
            f'{sorted(pred_labels_set)} are presented in JSON and not '
            'presented in PNG.'
        )


def pq_compute_single_image(
    pan_gt: np.ndarray,
    pan_pred: np.ndarray,
    gt_segments_info: Sequence[dict],
    pred_segments_info: Sequence[dict],
    categories: Dict[int, dict],
    image_id: object = None,
    pq_stat: Optional[PQStat] = None,
) -> PQStat:
    """Accumulate the PQ statistics of one image.

    Args:
        pan_gt (np.ndarray): ``(H, W)`` GT segment-id map (0 = VOID).
        pan_pred (np.ndarray): ``(H, W)`` predicted segment-id map.
        gt_segments_info (list[dict]): GT segments, each with ``id``,
            ``category_id``, ``iscrowd`` and ``area``.
        pred_segments_info (list[dict]): predicted segments, each with ``id``
            and ``category_id`` (their area is counted from ``pan_pred``; the
            dicts are copied, not modified).
        categories (dict): ``{category_id: category_info}``; a prediction of
            an unknown category raises ``KeyError``.
        image_id: only used in error messages.
        pq_stat (PQStat, optional): statistics to add to (a new one when
            None).

    Returns:
        PQStat: the updated statistics.
    """
    if pq_stat is None:
        pq_stat = PQStat()
    gt_segms = {el['id']: el for el in gt_segments_info}
    pred_segms = {el['id']: dict(el) for el in pred_segments_info}
    _count_pred_areas(pan_pred, pred_segms, categories, image_id)

    # confusion matrix: (gt_id, pred_id) -> number of pixels
    pan_gt_pred = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(
        np.uint64
    )
    gt_pred_map: Dict[Tuple[int, int], int] = {}
    labels, labels_cnt = np.unique(pan_gt_pred, return_counts=True)
    for label, intersection in zip(labels.tolist(), labels_cnt.tolist()):
        gt_pred_map[(label // OFFSET, label % OFFSET)] = intersection

    # matched pairs
    gt_matched, pred_matched = set(), set()
    for (gt_label, pred_label), intersection in gt_pred_map.items():
        if gt_label not in gt_segms or pred_label not in pred_segms:
            continue
        gt_info, pred_info = gt_segms[gt_label], pred_segms[pred_label]
        if gt_info['iscrowd'] == 1:
            continue
        if gt_info['category_id'] != pred_info['category_id']:
            continue
        union = (
            pred_info['area']
            + gt_info['area']
            - intersection
            - gt_pred_map.get((VOID, pred_label), 0)
        )
        iou = intersection / union
        if iou > 0.5:
            stat = pq_stat[gt_info['category_id']]
            stat.tp += 1
            stat.iou += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    # false negatives (crowd GT segments are ignored)
    crowd_labels_dict = {}
    for gt_label, gt_info in gt_segms.items():
        if gt_label in gt_matched:
            continue
        if gt_info['iscrowd'] == 1:
            crowd_labels_dict[gt_info['category_id']] = gt_label
            continue
        pq_stat[gt_info['category_id']].fn += 1

    # false positives, unless mostly on VOID / same-category crowd
    for pred_label, pred_info in pred_segms.items():
        if pred_label in pred_matched:
            continue
        intersection = gt_pred_map.get((VOID, pred_label), 0)
        if pred_info['category_id'] in crowd_labels_dict:
            intersection += gt_pred_map.get(
                (crowd_labels_dict[pred_info['category_id']], pred_label), 0
            )
        if intersection / pred_info['area'] > 0.5:
            continue
        pq_stat[pred_info['category_id']].fp += 1
    return pq_stat


def _read_id_map(path: str) -> np.ndarray:
    """Read a COCO panoptic RGB PNG as a segment-id map."""
    with Image.open(path) as img:
        return rgb2id(np.array(img.convert('RGB'), dtype=np.uint32))


@get_traceback
def pq_compute_single_core(
    proc_id: int,
    annotation_set: Sequence[Tuple[dict, dict]],
    gt_folder: str,
    pred_folder: str,
    categories: Dict[int, dict],
    print_log: bool = False,
) -> PQStat:
    """PQ statistics of ``(gt_ann, pred_ann)`` pairs whose PNGs
    (``file_name``) lie in ``gt_folder`` / ``pred_folder``."""
    pq_stat = PQStat()
    for idx, (gt_ann, pred_ann) in enumerate(annotation_set):
        if print_log and idx % 100 == 0:
            print(
                f'Core: {proc_id}, {idx} from {len(annotation_set)} '
                'images processed'
            )
        pan_gt = _read_id_map(os.path.join(gt_folder, gt_ann['file_name']))
        pan_pred = _read_id_map(
            os.path.join(pred_folder, pred_ann['file_name'])
        )
        pq_compute_single_image(
            pan_gt,
            pan_pred,
            gt_ann['segments_info'],
            pred_ann['segments_info'],
            categories,
            image_id=gt_ann.get('image_id'),
            pq_stat=pq_stat,
        )
    return pq_stat


def pq_compute_multi_core(
    matched_annotations_list: List[Tuple[dict, dict]],
    gt_folder: str,
    pred_folder: str,
    categories: Dict[int, dict],
    nproc: Optional[int] = None,
) -> PQStat:
    """:func:`pq_compute_single_core` split over ``nproc`` processes
    (default: all CPUs; ``nproc=1`` runs in this process)."""
    cpu_num = min(
        nproc or multiprocessing.cpu_count(),
        max(len(matched_annotations_list), 1),
    )
    if cpu_num <= 1:
        return pq_compute_single_core(
            0, matched_annotations_list, gt_folder, pred_folder, categories
        )
    chunks = [
        list(chunk)
        for chunk in np.array_split(
            np.arange(len(matched_annotations_list)), cpu_num
        )
    ]
    pq_stat = PQStat()
    with multiprocessing.Pool(processes=cpu_num) as workers:
        processes = [
            workers.apply_async(
                pq_compute_single_core,
                (
                    proc_id,
                    [matched_annotations_list[i] for i in chunk],
                    gt_folder,
                    pred_folder,
                    categories,
                ),
            )
            for proc_id, chunk in enumerate(chunks)
        ]
        for p in processes:
            pq_stat += p.get()
    return pq_stat


def pq_compute(
    gt_json_file: str,
    pred_json_file: str,
    gt_folder: Optional[str] = None,
    pred_folder: Optional[str] = None,
    nproc: Optional[int] = None,
) -> dict:
    """Compute PQ/SQ/RQ of a COCO panoptic prediction (json + PNG folder).

    Args:
        gt_json_file (str): GT panoptic json.
        pred_json_file (str): predicted panoptic json.
        gt_folder (str, optional): folder of the GT PNGs (default: the json
            path without ``.json``).
        pred_folder (str, optional): folder of the predicted PNGs (default:
            the json path without ``.json``).
        nproc (int, optional): number of worker processes.

    Returns:
        dict: ``{'All'|'Things'|'Stuff': {'pq', 'sq', 'rq', 'n'},
        'per_class': {...}}``.
    """
    start_time = time.time()
    with open(gt_json_file) as f:
        gt_json = json.load(f)
    with open(pred_json_file) as f:
        pred_json = json.load(f)
    if gt_folder is None:
        gt_folder = gt_json_file.replace('.json', '')
    if pred_folder is None:
        pred_folder = pred_json_file.replace('.json', '')
    categories = {el['id']: el for el in gt_json['categories']}
    for folder in (gt_folder, pred_folder):
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"Folder {folder} with segmentations doesn't exist"
            )

    pred_annotations = {el['image_id']: el for el in pred_json['annotations']}
    matched = []
    for gt_ann in gt_json['annotations']:
        image_id = gt_ann['image_id']
        if image_id not in pred_annotations:
            raise KeyError(f'no prediction for the image with id: {image_id}')
        matched.append((gt_ann, pred_annotations[image_id]))

    pq_stat = pq_compute_multi_core(
        matched, gt_folder, pred_folder, categories, nproc=nproc
    )

    results = {}
    for name, isthing in (('All', None), ('Things', True), ('Stuff', False)):
        results[name], per_class_results = pq_stat.pq_average(
            categories, isthing=isthing
        )
        if name == 'All':
            results['per_class'] = per_class_results
    print(
        '{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}'.format(
            '', 'PQ', 'SQ', 'RQ', 'N'
        )
    )
    print('-' * (10 + 7 * 4))
    for name in ('All', 'Things', 'Stuff'):
        print(
            '{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}'.format(
                name,
                100 * results[name]['pq'],
                100 * results[name]['sq'],
                100 * results[name]['rq'],
                results[name]['n'],
            )
        )
    print(f'Time elapsed: {time.time() - start_time:0.2f} seconds')
    return results
