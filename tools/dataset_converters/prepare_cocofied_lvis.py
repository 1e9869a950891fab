#!/usr/bin/env python
"""Convert LVIS (v0.5) annotations to a "COCOfied" COCO-format json.

This produces the ground truth of the "LVIS AP*" protocol (BlendMask paper,
Table 11; detectron2's ``lvis_v0.5_val_cocofied``): a COCO-trained model is
evaluated with COCO AP against the higher-quality LVIS v0.5 re-annotation of
COCO val2017 images, restricted to the 80 COCO categories.

What the conversion does:

* every LVIS category whose WordNet synset is one of the 80 COCO synsets
  (:data:`COCO_SYNSETS`, the official LVIS ``coco_to_synset`` mapping) is
  kept under its **COCO category id and COCO name**; all other LVIS
  annotations are dropped;
* the output always lists all 80 COCO categories in COCO order (mmdet's
  ``CocoDataset``/``CocoMetric`` map labels to ids by class name, so a missing
  category would shift the labels), with the LVIS ``synset`` and, when the
  LVIS file has the category, ``frequency``/``image_count`` kept as extra
  fields;
* annotations get ``iscrowd = 0`` (LVIS has no crowd boxes; pycocotools needs
  the key) and new consecutive ids; segmentation, bbox and area are kept;
* image ``file_name`` uses the COCO-2017 name (``COCO_val2014_000000xxxxxx.
  jpg`` -> ``000000xxxxxx.jpg``, or the basename of ``coco_url``); the LVIS
  federated fields ``neg_category_ids`` / ``not_exhaustive_category_ids`` are
  mapped to COCO ids (non-COCO entries dropped), so the file also stays usable
  by the lvis API.

Usage::

    python tools/dataset_converters/prepare_cocofied_lvis.py \
        data/lvis_v0.5/annotations/lvis_v0.5_val.json \
        data/lvis_v0.5/annotations/lvis_v0.5_val_cocofied.json

and evaluate with ``configs/_base_/datasets/lvis_cocofied_instance.py``.
"""

import argparse
import copy
import json
import os.path as osp
from typing import Dict, List, Optional, Tuple

#: The 80 COCO categories as ``(coco_category_id, coco_name, lvis_synset)``,
#: in COCO order. The synsets are those of the official LVIS mapping
#: (lvis-api ``data/coco_to_synset.json``), e.g. COCO "cow" is
#: ``beef.n.01``, "tv" is ``television_receiver.n.01``, "hot dog" is
#: ``frank.n.02``, "hair drier" is ``hand_blower.n.01``.
COCO_SYNSETS: Tuple[Tuple[int, str, str], ...] = (
    (1, 'person', 'person.n.01'),
    (2, 'bicycle', 'bicycle.n.01'),
    (3, 'car', 'car.n.01'),
    (4, 'motorcycle', 'motorcycle.n.01'),
    (5, 'airplane', 'airplane.n.01'),
    (6, 'bus', 'bus.n.01'),
    (7, 'train', 'train.n.01'),
    (8, 'truck', 'truck.n.01'),
    (9, 'boat', 'boat.n.01'),
    (10, 'traffic light', 'traffic_light.n.01'),
    (11, 'fire hydrant', 'fireplug.n.01'),
    (13, 'stop sign', 'stop_sign.n.01'),
    (14, 'parking meter', 'parking_meter.n.01'),
    (15, 'bench', 'bench.n.01'),
    (16, 'bird', 'bird.n.01'),
    (17, 'cat', 'cat.n.01'),
    (18, 'dog', 'dog.n.01'),
    (19, 'horse', 'horse.n.01'),
    (20, 'sheep', 'sheep.n.01'),
    (21, 'cow', 'beef.n.01'),
    (22, 'elephant', 'elephant.n.01'),
    (23, 'bear', 'bear.n.01'),
    (24, 'zebra', 'zebra.n.01'),
    (25, 'giraffe', 'giraffe.n.01'),
    (27, 'backpack', 'backpack.n.01'),
    (28, 'umbrella', 'umbrella.n.01'),
    (31, 'handbag', 'bag.n.04'),
    (32, 'tie', 'necktie.n.01'),
    (33, 'suitcase', 'bag.n.06'),
    (34, 'frisbee', 'frisbee.n.01'),
    (35, 'skis', 'ski.n.01'),
    (36, 'snowboard', 'snowboard.n.01'),
    (37, 'sports ball', 'ball.n.06'),
    (38, 'kite', 'kite.n.03'),
    (39, 'baseball bat', 'baseball_bat.n.01'),
    (40, 'baseball glove', 'baseball_glove.n.01'),
    (41, 'skateboard', 'skateboard.n.01'),
    (42, 'surfboard', 'surfboard.n.01'),
    (43, 'tennis racket', 'tennis_racket.n.01'),
    (44, 'bottle', 'bottle.n.01'),
    (46, 'wine glass', 'wineglass.n.01'),
    (47, 'cup', 'cup.n.01'),
    (48, 'fork', 'fork.n.01'),
    (49, 'knife', 'knife.n.01'),
    (50, 'spoon', 'spoon.n.01'),
    (51, 'bowl', 'bowl.n.03'),
    (52, 'banana', 'banana.n.02'),
    (53, 'apple', 'apple.n.01'),
    (54, 'sandwich', 'sandwich.n.01'),
    (55, 'orange', 'orange.n.01'),
    (56, 'broccoli', 'broccoli.n.01'),
    (57, 'carrot', 'carrot.n.01'),
    (58, 'hot dog', 'frank.n.02'),
    (59, 'pizza', 'pizza.n.01'),
    (60, 'donut', 'doughnut.n.02'),
    (61, 'cake', 'cake.n.03'),
    (62, 'chair', 'chair.n.01'),
    (63, 'couch', 'sofa.n.01'),
    (64, 'potted plant', 'pot.n.04'),
    (65, 'bed', 'bed.n.01'),
    (67, 'dining table', 'dining_table.n.01'),
    (70, 'toilet', 'toilet.n.02'),
    (72, 'tv', 'television_receiver.n.01'),
    (73, 'laptop', 'laptop.n.01'),
    (74, 'mouse', 'mouse.n.04'),
    (75, 'remote', 'remote_control.n.01'),
    (76, 'keyboard', 'computer_keyboard.n.01'),
    (77, 'cell phone', 'cellular_telephone.n.01'),
    (78, 'microwave', 'microwave.n.02'),
    (79, 'oven', 'oven.n.01'),
    (80, 'toaster', 'toaster.n.02'),
    (81, 'sink', 'sink.n.01'),
    (82, 'refrigerator', 'electric_refrigerator.n.01'),
    (84, 'book', 'book.n.01'),
    (85, 'clock', 'clock.n.01'),
    (86, 'vase', 'vase.n.01'),
    (87, 'scissors', 'scissors.n.01'),
    (88, 'teddy bear', 'teddy.n.01'),
    (89, 'hair drier', 'hand_blower.n.01'),
    (90, 'toothbrush', 'toothbrush.n.01'),
)

SYNSET_TO_COCO: Dict[str, int] = {s: i for i, _, s in COCO_SYNSETS}


def coco_file_name(img: dict) -> str:
    """COCO-2017 style file name of an LVIS image entry."""
    name = img.get('file_name')
    if name is None:
        name = img['coco_url'].rsplit('/', 1)[-1]
    if name.startswith('COCO_'):
        name = name[-16:]  # COCO_val2014_000000xxxxxx.jpg
    return name


def cocofy_lvis(
    lvis_json: dict, synsets: Optional[Dict[str, int]] = None
) -> dict:
    """Convert a loaded LVIS json to the COCOfied COCO-format dict.

    Args:
        lvis_json (dict): LVIS annotations (v0.5; v1 works the same).
        synsets (dict, optional): ``{lvis synset: coco category id}``;
            defaults to :data:`SYNSET_TO_COCO`.

    Returns:
        dict: COCO-format annotations (see the module docstring).
    """
    synsets = SYNSET_TO_COCO if synsets is None else synsets
    lvis_to_coco = {
        cat['id']: synsets[cat['synset']]
        for cat in lvis_json['categories']
        if cat['synset'] in synsets
    }
    lvis_cat_by_coco = {
        synsets[cat['synset']]: cat
        for cat in lvis_json['categories']
        if cat['synset'] in synsets
    }
    categories: List[dict] = []
    for coco_id, name, synset in COCO_SYNSETS:
        if coco_id not in synsets.values():
            continue
        cat = dict(id=coco_id, name=name, supercategory='', synset=synset)
        src = lvis_cat_by_coco.get(coco_id)
        if src is not None:
            for key in ('frequency', 'image_count', 'instance_count'):
                if key in src:
                    cat[key] = src[key]
            cat['lvis_category_id'] = src['id']
        categories.append(cat)

    images = []
    for img in lvis_json['images']:
        new_img = copy.deepcopy(img)
        new_img['file_name'] = coco_file_name(img)
        for key in ('neg_category_ids', 'not_exhaustive_category_ids'):
            if key in img:
                new_img[key] = sorted(
                    {lvis_to_coco[c] for c in img[key] if c in lvis_to_coco}
                )
        images.append(new_img)

    annotations = []
    for ann in lvis_json['annotations']:
        coco_id = lvis_to_coco.get(ann['category_id'])
        if coco_id is None:
            continue
        new_ann = copy.deepcopy(ann)
        new_ann['category_id'] = coco_id
        new_ann['id'] = len(annotations) + 1
        new_ann['iscrowd'] = 0
        annotations.append(new_ann)

    out = {
        k: copy.deepcopy(v)
        for k, v in lvis_json.items()
        if k not in ('images', 'annotations', 'categories')
    }
    out.update(images=images, annotations=annotations, categories=categories)
    return out


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('lvis_json', help='LVIS json, e.g. lvis_v0.5_val.json')
    parser.add_argument(
        'out_json',
        nargs='?',
        help='output (default: <lvis_json without .json>_cocofied.json)',
    )
    args = parser.parse_args(argv)
    out_json = (
        args.out_json or osp.splitext(args.lvis_json)[0] + '_cocofied.json'
    )
    with open(args.lvis_json) as f:
        lvis_json = json.load(f)
    out = cocofy_lvis(lvis_json)
    with open(out_json, 'w') as f:
        json.dump(out, f)
    print(
        f'{args.lvis_json} -> {out_json}: {len(out["images"])} images, '
        f'{len(out["annotations"])} of {len(lvis_json["annotations"])} '
        f'annotations kept, {len(out["categories"])} COCO categories'
    )


if __name__ == '__main__':
    main()
