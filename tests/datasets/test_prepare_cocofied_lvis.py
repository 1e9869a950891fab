"""tools/dataset_converters/prepare_cocofied_lvis.py on a synthetic LVIS
v0.5 file built from the real coco128-seg annotations, then evaluated with
the lvis_cocofied_instance.py dataset config + CocoMetric."""

import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from module_utils import load_module

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COCO128 = osp.join(REPO, 'demo', 'data', 'coco128-seg')
SCRIPT = osp.join(
    REPO, 'tools', 'dataset_converters', 'prepare_cocofied_lvis.py'
)
CFG = osp.join(
    REPO, 'configs', '_base_', 'datasets', 'lvis_cocofied_instance.py'
)


@pytest.fixture(scope='module')
def conv():
    return load_module(SCRIPT, 'prepare_cocofied_lvis')


# non-COCO LVIS categories (must be dropped), with made-up LVIS ids
EXTRA_LVIS = [
    (3, 'aerosol_can.n.02'),
    (7, 'alarm_clock.n.01'),
    (11, 'sunglasses.n.01'),
]


def _to_lvis_v05(coco: dict, conv) -> dict:
    """An LVIS-v0.5-format file: LVIS category ids (!= COCO ids), synsets,
    COCO-2014 style file names, federated fields, extra LVIS categories."""
    coco_to_lvis = {
        cid: 1000 - 3 * k for k, (cid, _, _) in enumerate(conv.COCO_SYNSETS)
    }
    cats = [
        dict(
            id=coco_to_lvis[cid],
            name=syn.split('.')[0],
            synset=syn,
            frequency='f',
            image_count=1,
            instance_count=1,
        )
        for cid, _, syn in conv.COCO_SYNSETS
    ] + [
        dict(id=i, name=s.split('.')[0], synset=s, frequency='r')
        for i, s in EXTRA_LVIS
    ]
    anns = []
    for a in coco['annotations']:
        b = copy.deepcopy(a)
        b.pop('iscrowd', None)
        b['category_id'] = coco_to_lvis[a['category_id']]
        b['id'] = 50000 + len(anns)
        anns.append(b)
        if len(anns) % 10 == 0:  # interleave some non-COCO objects
            extra = copy.deepcopy(b)
            extra['category_id'] = EXTRA_LVIS[len(anns) % 3][0]
            extra['id'] = 90000 + len(anns)
            anns.append(extra)
    images = []
    for i, img in enumerate(coco['images']):
        images.append(
            dict(
                id=img['id'],
                width=img['width'],
                height=img['height'],
                file_name='COCO_train2014_' + img['file_name'],
                coco_url=img['coco_url'],
                neg_category_ids=[3, coco_to_lvis[90], 7],
                not_exhaustive_category_ids=[11]
                + ([coco_to_lvis[1]] if i == 0 else []),
            )
        )
    return dict(
        info={}, licenses=[], images=images, annotations=anns, categories=cats
    )


def test_mapping_is_complete(conv):
    ids = [c for c, _, _ in conv.COCO_SYNSETS]
    assert len(ids) == len(set(ids)) == 80
    assert len({s for _, _, s in conv.COCO_SYNSETS}) == 80
    from mmdet.datasets import CocoDataset

    assert (
        tuple(n for _, n, _ in conv.COCO_SYNSETS)
        == CocoDataset.METAINFO['classes']
    )
    assert conv.SYNSET_TO_COCO['beef.n.01'] == 21  # cow
    assert conv.SYNSET_TO_COCO['television_receiver.n.01'] == 72  # tv


def test_cocofy_and_evaluate(conv, tmp_path):
    from mmdet.registry import DATASETS, METRICS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    with open(osp.join(COCO128, 'instances_train.json')) as f:
        coco = json.load(f)
    lvis_file = tmp_path / 'lvis_v0.5_val.json'
    lvis_json = _to_lvis_v05(coco, conv)
    assert len(lvis_json['annotations']) > len(coco['annotations'])
    lvis_file.write_text(json.dumps(lvis_json))
    conv.main([str(lvis_file)])  # default output name
    out_file = tmp_path / 'lvis_v0.5_val_cocofied.json'
    out = json.loads(out_file.read_text())

    # 80 COCO categories, COCO ids and names, in COCO order
    assert [c['id'] for c in out['categories']] == [
        c['id'] for c in coco['categories']
    ]
    assert [c['name'] for c in out['categories']] == [
        c['name'] for c in coco['categories']
    ]
    # exactly the COCO objects survive, with their COCO category ids
    key = lambda a: (a['image_id'], a['category_id'], tuple(a['bbox']))  # noqa
    assert sorted(map(key, out['annotations'])) == sorted(
        map(key, coco['annotations'])
    )
    assert all(a['iscrowd'] == 0 for a in out['annotations'])
    ann_ids = [a['id'] for a in out['annotations']]
    assert len(set(ann_ids)) == len(ann_ids)
    img0 = out['images'][0]
    assert img0['file_name'] == coco['images'][0]['file_name']
    assert img0['neg_category_ids'] == [90]
    assert img0['not_exhaustive_category_ids'] == [1]
    assert out['images'][1]['not_exhaustive_category_ids'] == []

    # evaluate with the LVIS AP* dataset config (CocoDataset + CocoMetric)
    init_default_scope('mmdet')
    cfg = Config.fromfile(CFG)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.ann_file = str(out_file)
    ds_cfg.data_prefix = dict(img=osp.join(COCO128, 'images', 'train2017/'))
    ds_cfg.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    ]
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == len(coco['images'])
    metric_cfg = copy.deepcopy(cfg.test_evaluator)
    metric_cfg.ann_file = str(out_file)
    metric = METRICS.build(metric_cfg)
    metric.dataset_meta = dataset.metainfo
    img_ids = []
    for idx in range(0, len(dataset), 4):  # a subset of the images
        s = dataset[idx]
        img_ids.append(s['img_id'])
        metric.process(
            {},
            [
                dict(
                    img_id=s['img_id'],
                    ori_shape=s['ori_shape'],
                    pred_instances=dict(
                        bboxes=s['gt_bboxes'].tensor,
                        scores=torch.ones(len(s['gt_bboxes_labels'])),
                        labels=torch.as_tensor(s['gt_bboxes_labels']),
                        masks=torch.from_numpy(
                            s['gt_masks'].to_ndarray().astype(bool)
                        ),
                    ),
                )
            ],
        )
    metric.img_ids = img_ids  # evaluate the processed images only
    res = metric.compute_metrics(metric.results)
    assert res['bbox_mAP'] == pytest.approx(1.0)
    assert res['segm_mAP'] == pytest.approx(1.0)
    assert np.isfinite(res['segm_mAP_50'])
