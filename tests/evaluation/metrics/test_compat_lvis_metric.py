"""LVIS evaluation on numpy 2: mmdet's LVISV1Dataset + mmblend's
CompatLVISMetric on an LVIS-v1 file built from the real coco128-seg val
annotations (22 images, 152 instances) and the real images."""

import copy
import json
import os.path as osp
from collections import defaultdict

import numpy as np
import pytest
import torch

lvis = pytest.importorskip('lvis')

import mmblend  # noqa: E402,F401  (applies the shim, registers metrics)
from mmblend.evaluation import CompatLVISMetric  # noqa: E402

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
COCO128 = osp.join(REPO, 'demo', 'data', 'coco128-seg')


def _frequency(image_count: int) -> str:
    """LVIS uses r: 1-10, c: 11-100, f: >100 training images; scaled down to
    this tiny set so that all three groups occur."""
    return 'r' if image_count <= 1 else ('c' if image_count <= 2 else 'f')


def build_lvis_v1_from_coco(coco: dict) -> dict:
    """LVIS-v1-format annotations from a COCO-format dict."""
    img_cats = defaultdict(set)
    inst_count = defaultdict(int)
    for ann in coco['annotations']:
        img_cats[ann['image_id']].add(ann['category_id'])
        inst_count[ann['category_id']] += 1
    cat_imgs = defaultdict(int)
    for cats in img_cats.values():
        for c in cats:
            cat_imgs[c] += 1
    all_cats = [c['id'] for c in coco['categories']]
    images = []
    for i, img in enumerate(coco['images']):
        present = img_cats[img['id']]
        absent = [c for c in all_cats if c not in present]
        images.append(
            dict(
                id=img['id'],
                width=img['width'],
                height=img['height'],
                license=1,
                flickr_url='',
                coco_url='http://images.cocodataset.org/train2017/'
                + img['file_name'],
                date_captured='2013-11-14 16:28:13',
                # verified-absent categories (detections there are FPs)
                neg_category_ids=absent[i % 5 :: 7],
                # one image with a non-exhaustively annotated category
                not_exhaustive_category_ids=sorted(present)[:1]
                if i == 3
                else [],
            )
        )
    categories = [
        dict(
            id=c['id'],
            name=c['name'].replace(' ', '_'),
            synset=c['name'].replace(' ', '_') + '.n.01',
            synonyms=[c['name'].replace(' ', '_')],
            def_='',
            frequency=_frequency(cat_imgs[c['id']]),
            image_count=cat_imgs[c['id']],
            instance_count=inst_count[c['id']],
        )
        for c in coco['categories']
    ]
    annotations = [
        dict(
            id=a['id'],
            image_id=a['image_id'],
            category_id=a['category_id'],
            segmentation=a['segmentation'],
            area=a['area'],
            bbox=a['bbox'],
        )
        for a in coco['annotations']
    ]
    return dict(
        info=dict(description='LVIS-v1-format coco128-seg val (test)'),
        licenses=[dict(id=1, name='CC BY 4.0', url='')],
        images=images,
        categories=categories,
        annotations=annotations,
    )


@pytest.fixture(scope='module')
def lvis_val(tmp_path_factory):
    """(annotation file, LVISV1Dataset with GT masks, per-image GT)."""
    from mmdet.datasets import LVISV1Dataset
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    with open(osp.join(COCO128, 'instances_val.json')) as f:
        coco = json.load(f)
    lvis_json = build_lvis_v1_from_coco(coco)
    ann_file = str(tmp_path_factory.mktemp('lvis') / 'lvis_v1_val.json')
    with open(ann_file, 'w') as f:
        json.dump(lvis_json, f)
    dataset = LVISV1Dataset(
        data_root=osp.join(COCO128, 'images') + '/',
        ann_file=ann_file,
        data_prefix=dict(img=''),
        metainfo=dict(
            classes=tuple(c['name'] for c in lvis_json['categories'])
        ),
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        ],
    )
    samples = [dataset[i] for i in range(len(dataset))]
    return ann_file, dataset, samples


def _predictions(samples, perturb=False):
    """Data samples whose predictions are the GT (optionally perturbed)."""
    rng = np.random.RandomState(0)
    out = []
    for s in samples:
        boxes = s['gt_bboxes'].tensor.clone()
        masks = s['gt_masks'].to_ndarray().astype(bool)
        labels = torch.as_tensor(s['gt_bboxes_labels'], dtype=torch.long)
        scores = torch.ones(len(labels))
        if perturb:
            for k in range(0, len(labels), 2):  # every other object
                w = float(boxes[k, 2] - boxes[k, 0])
                dx = max(2, int(round(0.35 * w)))
                boxes[k, [0, 2]] += dx
                masks[k] = np.roll(masks[k], dx, axis=1)
            scores = torch.as_tensor(rng.rand(len(labels)), dtype=torch.float)
        out.append(
            dict(
                img_id=s['img_id'],
                ori_shape=s['ori_shape'],
                pred_instances=dict(
                    bboxes=boxes,
                    scores=scores,
                    labels=labels,
                    masks=torch.from_numpy(masks),
                ),
            )
        )
    return out


def _evaluate(ann_file, dataset, samples, perturb):
    from mmdet.registry import METRICS

    metric = METRICS.build(
        dict(
            type='CompatLVISMetric', ann_file=ann_file, metric=['bbox', 'segm']
        )
    )
    assert isinstance(metric, CompatLVISMetric)
    metric.dataset_meta = dataset.metainfo
    metric.process({}, _predictions(samples, perturb))
    return metric.evaluate(len(samples))


def test_dataset_loads_real_images(lvis_val):
    _, dataset, samples = lvis_val
    assert len(dataset) == 22
    assert sum(len(s['gt_bboxes_labels']) for s in samples) == 152
    s = samples[0]
    assert s['img'].shape[:2] == s['ori_shape'] == (640, 481)
    assert s['img_path'].endswith('images/train2017/000000000036.jpg')
    assert s['gt_masks'].masks.shape[0] == len(s['gt_bboxes_labels'])


def test_perfect_predictions_ap_1(lvis_val):
    res = _evaluate(*lvis_val, perturb=False)
    for iou_type in ('bbox', 'segm'):
        for k in ('AP', 'AP50', 'AP75', 'APr', 'APc', 'APf'):
            assert res[f'lvis/{iou_type}_{k}'] == pytest.approx(1.0), k


def test_perturbed_predictions_lower_ap(lvis_val):
    res = _evaluate(*lvis_val, perturb=True)
    for iou_type in ('bbox', 'segm'):
        ap = res[f'lvis/{iou_type}_AP']
        assert 0.2 < ap < 0.8, (iou_type, ap)
        assert res[f'lvis/{iou_type}_AP50'] < 1.0
    # exact values of this deterministic perturbation (regression check)
    assert res['lvis/bbox_AP'] == pytest.approx(EXPECTED_BBOX_AP, abs=2e-3)
    assert res['lvis/segm_AP'] == pytest.approx(EXPECTED_SEGM_AP, abs=2e-3)


EXPECTED_BBOX_AP = 0.379
EXPECTED_SEGM_AP = 0.376


def test_unfixed_lvis_fails_on_numpy2(lvis_val, monkeypatch):
    """Without the shim, lvis-api 0.5.3's LVISEval crashes on numpy 2 (this
    notices if the fix is removed or lvis is fixed upstream)."""
    if hasattr(np, 'float'):
        pytest.skip('numpy still has np.float')
    from lvis import LVIS, LVISEval, LVISResults

    ann_file, _, samples = lvis_val
    gt = LVIS(ann_file)
    dets = [
        dict(
            image_id=a['image_id'],
            category_id=a['category_id'],
            bbox=a['bbox'],
            score=1.0,
        )
        for a in copy.deepcopy(gt.dataset['annotations'])
    ]
    monkeypatch.setattr(lvis.eval, 'np', np)  # remove the shim
    ev = LVISEval(gt, LVISResults(gt, dets), 'bbox')
    ev.evaluate()
    with pytest.raises(AttributeError, match='float'):
        ev.accumulate()
    monkeypatch.undo()
    ev = LVISEval(gt, LVISResults(gt, dets), 'bbox')
    ev.run()  # evaluate + accumulate + summarize with the shim
    assert ev.results['AP'] == pytest.approx(1.0)
