"""mmdet's panoptic components on the real COCO panoptic sample (2 val2017
images, 50 segments) with mmblend's panopticapi fallback."""

import json
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

import mmblend  # noqa: F401  (installs the panopticapi fallback)
from mmblend.compat.panopticapi import real_panopticapi_available
from mmblend.compat.panopticapi.utils import rgb2id

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAMPLE = osp.join(
    REPO, '..', 'shared', 'data', 'coco_panoptic_sample', 'sample_data'
)
ANN = osp.join(SAMPLE, 'panoptic_examples.json')
SEG_DIR = osp.join(SAMPLE, 'panoptic_examples')

pytestmark = pytest.mark.skipif(
    not osp.isdir(SAMPLE), reason='shared coco_panoptic_sample not present'
)


@pytest.fixture(scope='module')
def dataset():
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    return DATASETS.build(
        dict(
            type='CocoPanopticDataset',
            data_root=SAMPLE + '/',
            ann_file='panoptic_examples.json',
            data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
            test_mode=True,
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(
                    type='LoadPanopticAnnotations',
                    with_bbox=True,
                    with_label=True,
                    with_mask=True,
                    with_seg=True,
                ),
                dict(
                    type='PackDetInputs',
                    meta_keys=(
                        'img_id',
                        'img_path',
                        'ori_shape',
                        'img_shape',
                        'seg_map_path',
                        'segments_info',
                    ),
                ),
            ],
        )
    )


def _gt():
    with open(ANN) as f:
        return json.load(f)


def test_alias_is_ours_and_patched_into_mmdet():
    if real_panopticapi_available():
        pytest.skip('a real panopticapi is installed')
    import panopticapi
    from mmdet.evaluation.functional import panoptic_utils
    from mmdet.evaluation.metrics import coco_panoptic_metric

    assert panopticapi.__name__ == 'mmblend.compat.panopticapi'
    assert panoptic_utils.PQStat is panopticapi.evaluation.PQStat
    assert coco_panoptic_metric.panopticapi is panopticapi


def test_patch_after_mmdet_was_imported_first():
    """mmdet imported before mmblend (its ``try: import panopticapi`` fails
    and leaves None): importing mmblend fills the names in afterwards."""
    code = textwrap.dedent("""
        import importlib.util, sys
        if importlib.util.find_spec('panopticapi') is not None:
            print('SKIP'); sys.exit(0)
        from mmdet.evaluation.functional import panoptic_utils as pu
        from mmdet.evaluation.metrics import coco_panoptic_metric as cpm
        assert pu.PQStat is None and cpm.panopticapi is None
        import mmblend
        assert pu.PQStat is not None and pu.rgb2id is not None
        assert cpm.panopticapi is not None and cpm.id2rgb is not None
        cpm.CocoPanopticMetric()  # raised RuntimeError before
        print('OK')
    """)
    out = subprocess.run(
        [sys.executable, '-c', code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    if out.stdout.strip().endswith('SKIP'):
        pytest.skip('a real panopticapi is installed')
    assert out.stdout.strip().endswith('OK')


def test_load_panoptic_annotations_real_sample(dataset):
    gt = _gt()
    assert len(dataset) == 2
    for idx in range(2):
        out = dataset[idx]
        sample = out['data_samples']
        img_id = sample.img_id
        ann = next(a for a in gt['annotations'] if a['image_id'] == img_id)
        png = np.array(Image.open(osp.join(SEG_DIR, ann['file_name'])))
        ids = rgb2id(png)
        things = [
            s
            for s in ann['segments_info']
            if dataset.metainfo['thing_classes'].count(
                next(
                    c['name']
                    for c in gt['categories']
                    if c['id'] == s['category_id']
                )
            )
        ]
        gt_inst = sample.gt_instances
        # every non-crowd thing segment becomes an instance; mmdet drops
        # crowd things from the instances (they stay in the semantic map)
        assert len(gt_inst) == len(things) - sum(s['iscrowd'] for s in things)
        assert len(sample.ignored_instances) == 0
        assert (gt_inst.labels < 80).all()
        masks = gt_inst.masks.to_ndarray()
        areas = sorted(int(m.sum()) for m in masks)
        assert areas == sorted(
            int((ids == s['id']).sum()) for s in things if not s['iscrowd']
        )
        # semantic map: VOID -> 255, labels < 133
        sem = sample.gt_sem_seg.sem_seg.numpy()[0]
        assert sem.shape == ids.shape
        assert ((sem == 255) == (ids == 0)).all()
        assert sem[sem != 255].max() < 133
        for s in ann['segments_info']:
            if s['iscrowd']:
                label = dataset.metainfo['classes'].index(
                    next(
                        c['name']
                        for c in gt['categories']
                        if c['id'] == s['category_id']
                    )
                )
                assert (sem[ids == s['id']] == label).all()


def _predictions(dataset, drop_segment=None):
    """Panoptic predictions equal to the GT PNGs (optionally with one segment,
    ``(image_id, segment_id)``, removed, i.e. set to VOID)."""
    from mmdet.evaluation.functional import INSTANCE_OFFSET

    gt = _gt()
    cat_names = {c['id']: c['name'] for c in gt['categories']}
    classes = list(dataset.metainfo['classes'])
    num_classes = len(classes)
    samples = []
    for ann in gt['annotations']:
        ids = rgb2id(np.array(Image.open(osp.join(SEG_DIR, ann['file_name']))))
        pan = np.full(ids.shape, num_classes, dtype=np.int64)  # VOID
        for k, seg in enumerate(ann['segments_info']):
            if (ann['image_id'], seg['id']) == drop_segment:
                continue
            label = classes.index(cat_names[seg['category_id']])
            pan[ids == seg['id']] = label + INSTANCE_OFFSET * (k + 1)
        img = next(i for i in gt['images'] if i['id'] == ann['image_id'])
        samples.append(
            dict(
                img_id=ann['image_id'],
                img_path=osp.join(SAMPLE, 'input_images', img['file_name']),
                ori_shape=ids.shape,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pan)[None]),
            )
        )
    return samples


def _evaluate(dataset, tmp_path, drop_segment=None, outfile_prefix=None):
    from mmdet.registry import METRICS

    metric = METRICS.build(
        dict(
            type='CocoPanopticMetric',
            ann_file=ANN,
            seg_prefix=SEG_DIR,
            outfile_prefix=outfile_prefix,
            nproc=2,
        )
    )
    metric.dataset_meta = dataset.metainfo
    for s in _predictions(dataset, drop_segment):
        metric.process({}, [s])
    return metric.evaluate(2)


@pytest.mark.parametrize('with_outfile', [False, True])
def test_coco_panoptic_metric_gt_as_prediction(
    dataset, tmp_path, with_outfile
):
    # without outfile_prefix: per-batch pq_compute_single_core; with it:
    # pq_compute_multi_core over worker processes at the end
    res = _evaluate(
        dataset,
        tmp_path,
        outfile_prefix=str(tmp_path / 'res') if with_outfile else None,
    )
    for k in (
        'PQ',
        'SQ',
        'RQ',
        'PQ_th',
        'SQ_th',
        'RQ_th',
        'PQ_st',
        'SQ_st',
        'RQ_st',
    ):
        assert res[f'coco_panoptic/{k}'] == pytest.approx(100.0), k


def test_coco_panoptic_metric_one_segment_removed(dataset, tmp_path):
    """Removing one of the non-crowd "person" segments turns it into a FN:
    person PQ = n / (n + 0.5) with n persons left matched (IoU 1), every other
    category keeps PQ 1, so PQ(all) = (N - 1 + n/(n + 0.5)) / N."""
    gt = _gt()
    segs = [s for a in gt['annotations'] for s in a['segments_info']]
    persons = [
        (a['image_id'], s)
        for a in gt['annotations']
        for s in a['segments_info']
        if s['category_id'] == 1 and not s['iscrowd']
    ]
    dropped = (persons[0][0], persons[0][1]['id'])
    n = len(persons) - 1
    cats = {s['category_id'] for s in segs if not s['iscrowd']}
    is_thing = {c['id']: c['isthing'] for c in gt['categories']}
    n_all = len(cats)
    n_th = sum(is_thing[c] for c in cats)
    person_pq = n / (n + 0.5)
    res = _evaluate(dataset, tmp_path, drop_segment=dropped)
    assert res['coco_panoptic/PQ'] == pytest.approx(
        100 * (n_all - 1 + person_pq) / n_all, abs=1e-3
    )
    assert res['coco_panoptic/PQ_th'] == pytest.approx(
        100 * (n_th - 1 + person_pq) / n_th, abs=1e-3
    )
    assert res['coco_panoptic/RQ_th'] == pytest.approx(
        100 * (n_th - 1 + person_pq) / n_th, abs=1e-3
    )
    assert res['coco_panoptic/SQ'] == pytest.approx(100.0)
    assert res['coco_panoptic/PQ_st'] == pytest.approx(100.0)
    assert res['coco_panoptic/PQ'] < 100.0
    # the numbers for the real sample, for the record
    assert (n, n_all, n_th) == (EXPECTED_N, EXPECTED_N_ALL, EXPECTED_N_TH)


EXPECTED_N, EXPECTED_N_ALL, EXPECTED_N_TH = 25, 8, 4
