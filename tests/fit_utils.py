"""Shared by the real-data fit tests (tests/integration/test_fit_real_data.py,
tests/integration/test_fit_keypoints.py,
tests/models/roi_heads/test_blend_roi_head_fit.py): the four coco128-seg
photos they fit (or a subset of another file) and the AP they read
(imported by plain name: tests/ is on sys.path through its conftest.py)."""

import json
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(REPO, 'demo', 'data', 'coco128-seg')
IMAGE_IDS = (34, 42, 73, 81)  # zebra, dog, 2 motorbikes, airplane
TRAIN_ANN = osp.join(DATA, 'instances_train.json')


def subset(tmp_path, ids=IMAGE_IDS, ann_file=TRAIN_ANN) -> str:
    """An annotation file of the photos ``ids`` of ``ann_file`` (default:
    coco128-seg's training photos) only."""
    with open(ann_file) as f:
        coco = json.load(f)
    coco['images'] = [im for im in coco['images'] if im['id'] in ids]
    coco['annotations'] = [
        a for a in coco['annotations'] if a['image_id'] in ids
    ]
    path = tmp_path / 'fit.json'
    path.write_text(json.dumps(coco))
    return str(path)


def segm_ap(runner):
    """(mask AP, box AP) of ``runner.test()``."""
    metrics = runner.test()
    return metrics.get('coco/segm_mAP', 0.0), metrics.get('coco/bbox_mAP', 0.0)
