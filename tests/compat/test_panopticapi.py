"""PQ/SQ/RQ of mmblend's panopticapi re-implementation on crafted cases.

All expected numbers are computed by hand from the panopticapi rules (see
the module docstring of ``mmblend.compat.panopticapi.evaluation``)
on 10x10 id maps; columns are the last axis.
"""

import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmblend.compat.panopticapi import evaluation as pq_eval
from mmblend.compat.panopticapi import utils as pq_utils
from mmblend.compat.panopticapi.evaluation import (
    OFFSET,
    VOID,
    PQStat,
    pq_compute,
    pq_compute_single_image,
)

# 1, 3: things; 2: stuff
CATS = {
    1: dict(id=1, name='a', isthing=1),
    2: dict(id=2, name='b', isthing=0),
    3: dict(id=3, name='c', isthing=1),
}


def _segs(id_map, cats, crowd=()):
    """segments_info of the ids in ``id_map`` (``cats``: id -> category)."""
    return [
        dict(
            id=i,
            category_id=c,
            iscrowd=int(i in crowd),
            area=int((id_map == i).sum()),
        )
        for i, c in cats.items()
    ]


def _run(gt, pred, gt_cats, pred_cats, crowd=()):
    stat = pq_compute_single_image(
        gt, pred, _segs(gt, gt_cats, crowd), _segs(pred, pred_cats), CATS
    )
    return stat, {
        name: stat.pq_average(CATS, isthing)
        for name, isthing in (
            ('All', None),
            ('Things', True),
            ('Stuff', False),
        )
    }


def test_constants_and_color_codec():
    assert OFFSET == 256**3 and VOID == 0
    rgb = np.array([[[1, 2, 3], [255, 255, 255]]], dtype=np.uint8)
    ids = pq_utils.rgb2id(rgb)
    assert ids.tolist() == [[1 + 2 * 256 + 3 * 65536, 256**3 - 1]]
    assert ids.dtype == np.int32  # uint8 input is widened, no overflow
    assert np.array_equal(pq_utils.id2rgb(ids), rgb)
    assert pq_utils.rgb2id((1, 2, 3)) == 197121
    assert pq_utils.id2rgb(197121) == [1, 2, 3]
    gen = pq_utils.IdGenerator(
        {
            1: dict(isthing=1, color=[10, 20, 30]),
            2: dict(isthing=0, color=[5, 5, 5]),
        }
    )
    first, second = gen.get_id(1), gen.get_id(1)
    assert first == pq_utils.rgb2id((10, 20, 30)) and second != first
    assert gen.get_id(2) == gen.get_id(2) == pq_utils.rgb2id((5, 5, 5))


def test_perfect_match():
    gt = np.zeros((10, 10), np.int64)
    gt[:, :5], gt[:, 5:] = 1, 2
    stat, res = _run(gt, gt.copy(), {1: 1, 2: 2}, {1: 1, 2: 2})
    assert (stat[1].tp, stat[1].fp, stat[1].fn) == (1, 0, 0)
    assert stat[1].iou == pytest.approx(1.0)
    for name in ('All', 'Things', 'Stuff'):
        summary = res[name][0]
        assert summary['pq'] == summary['sq'] == summary['rq'] == 1.0
    assert res['All'][0]['n'] == 2 and res['Things'][0]['n'] == 1


@pytest.mark.parametrize(
    'extra, matched',
    [
        (19, True),  # IoU 20/39 = 0.513 -> TP
        (20, False),  # IoU 20/40 = 0.5 exactly -> not a match (IoU > 0.5)
        (21, False),  # IoU 20/41 = 0.488 -> FP + FN
    ],
)
def test_iou_threshold(extra, matched):
    # GT: thing 1 = cols 0-1 (20 px), stuff 2 = cols 2-9 (80 px)
    gt = np.full((10, 10), 2)
    gt[:, :2] = 1
    # prediction of thing 1 = GT 1 plus ``extra`` pixels of the stuff
    pred = np.full((10, 10), 2)
    pred[:, :2] = 1
    flat = pred[:, 2:].T.reshape(-1)  # column-major walk over cols 2-9
    flat[:extra] = 1
    pred[:, 2:] = flat.reshape(8, 10).T
    assert (pred == 1).sum() == 20 + extra
    stat, res = _run(gt, pred, {1: 1, 2: 2}, {1: 1, 2: 2})
    stuff_iou = (80 - extra) / 80  # stuff prediction is inside GT stuff
    assert stat[2].tp == 1 and stat[2].iou == pytest.approx(stuff_iou)
    if matched:
        iou = 20 / (20 + extra)
        assert (stat[1].tp, stat[1].fp, stat[1].fn) == (1, 0, 0)
        assert stat[1].iou == pytest.approx(iou)
        assert res['Things'][0]['pq'] == pytest.approx(iou)
        assert res['Things'][0]['rq'] == 1.0
        assert res['All'][0]['pq'] == pytest.approx((iou + stuff_iou) / 2)
    else:
        assert (stat[1].tp, stat[1].fp, stat[1].fn) == (0, 1, 1)
        assert stat[1].iou == 0.0
        assert res['Things'][0] == dict(pq=0.0, sq=0.0, rq=0.0, n=1)
        assert res['All'][0]['pq'] == pytest.approx(stuff_iou / 2)


def test_void_regions():
    # GT: thing 1 = cols 0-3 (40 px), VOID = cols 4-7, stuff 2 = cols 8-9
    gt = np.zeros((10, 10), np.int64)
    gt[:, :4], gt[:, 8:] = 1, 2
    pred = np.zeros((10, 10), np.int64)
    pred[:, :6] = 1  # 60 px, 20 of them on VOID
    pred[:5, 6:8] = 3  # cat 1, 10 px entirely on VOID -> ignored
    pred[5:, 7:9] = 4  # cat 2, 10 px, exactly 50 % on VOID -> FP
    pred[:, 9] = 5  # cat 2, 10 px ...
    pred[:5, 8] = 5  # ... + 5 px = 15 px inside GT stuff (20 px)
    stat, res = _run(gt, pred, {1: 1, 2: 2}, {1: 1, 3: 1, 4: 2, 5: 2})
    # IoU = 40 / (60 + 40 - 40 - 20 void) = 1.0 (void removed from union)
    assert (stat[1].tp, stat[1].fp, stat[1].fn) == (1, 0, 0)
    assert stat[1].iou == pytest.approx(1.0)
    # stuff: seg 5 IoU 15/20 = 0.75 TP, seg 4 FP (not > 50 % void)
    assert (stat[2].tp, stat[2].fp, stat[2].fn) == (1, 1, 0)
    assert stat[2].iou == pytest.approx(0.75)
    per_class = res['All'][1]
    assert per_class[1] == dict(pq=1.0, sq=1.0, rq=1.0)
    assert per_class[2]['pq'] == pytest.approx(0.75 / 1.5)
    assert per_class[2]['sq'] == pytest.approx(0.75)
    assert per_class[2]['rq'] == pytest.approx(1 / 1.5)
    assert res['All'][0]['pq'] == pytest.approx((1.0 + 0.5) / 2)


def test_crowd_regions():
    # GT: crowd of cat 1 = cols 0-4, thing 1 (non-crowd) = cols 5-9
    gt = np.zeros((10, 10), np.int64)
    gt[:, :5], gt[:, 5:] = 1, 2
    pred = np.zeros((10, 10), np.int64)
    pred[:, :4] = 7  # cat 1 on the cat-1 crowd: never matched, ignored
    pred[:, 4] = 8  # cat 3 on the cat-1 crowd: other category -> FP
    pred[:, 5:] = 9  # cat 1, exact -> TP
    stat, res = _run(gt, pred, {1: 1, 2: 1}, {7: 1, 8: 3, 9: 1}, crowd=(1,))
    # the crowd GT segment is no FN; the prediction on it is no FP
    assert (stat[1].tp, stat[1].fp, stat[1].fn) == (1, 0, 0)
    assert stat[1].iou == pytest.approx(1.0)
    assert (stat[3].tp, stat[3].fp, stat[3].fn) == (0, 1, 0)
    assert res['Things'][0] == dict(pq=0.5, sq=0.5, rq=0.5, n=2)
    # no stuff category occurs: n == 0, reported as 0 (official: div by 0)
    assert res['Stuff'][0] == dict(pq=0.0, sq=0.0, rq=0.0, n=0)


def test_crowd_is_not_matched_even_if_exact():
    gt = np.ones((10, 10), np.int64)
    stat, _ = _run(gt, gt.copy(), {1: 1}, {1: 1}, crowd=(1,))
    assert (stat[1].tp, stat[1].fp, stat[1].fn) == (0, 0, 0)


def test_unmatched_segments_and_things_stuff_split():
    # GT: thing 1 = cols 0-4 (50 px), stuff 2 = cols 5-9 (50 px)
    gt = np.zeros((10, 10), np.int64)
    gt[:, :5], gt[:, 5:] = 1, 2
    pred = np.zeros((10, 10), np.int64)
    pred[:, :4] = 7  # cat 1, IoU 40/50 = 0.8
    pred[:, 7:] = 8  # cat 2, IoU 30/50 = 0.6
    pred[:, 4:7] = 9  # cat 3, no GT of cat 3 -> FP
    stat, res = _run(gt, pred, {1: 1, 2: 2}, {7: 1, 8: 2, 9: 3})
    assert stat[1].iou == pytest.approx(0.8) and stat[1].tp == 1
    assert stat[2].iou == pytest.approx(0.6) and stat[2].tp == 1
    assert (stat[3].tp, stat[3].fp, stat[3].fn) == (0, 1, 0)
    things, stuff, all_ = res['Things'][0], res['Stuff'][0], res['All'][0]
    assert things['pq'] == pytest.approx(0.4)
    assert things['sq'] == pytest.approx(0.4)
    assert things['rq'] == pytest.approx(0.5)
    assert things['n'] == 2
    assert stuff == pytest.approx(dict(pq=0.6, sq=0.6, rq=1.0, n=1))
    assert all_['pq'] == pytest.approx(1.4 / 3)
    assert all_['rq'] == pytest.approx(2 / 3)
    assert all_['n'] == 3


def test_wrong_category_is_fp_and_fn():
    gt = np.ones((10, 10), np.int64)
    stat, res = _run(gt, gt.copy(), {1: 1}, {1: 3})
    assert (stat[1].tp, stat[1].fp, stat[1].fn) == (0, 0, 1)
    assert (stat[3].tp, stat[3].fp, stat[3].fn) == (0, 1, 0)
    assert res['All'][0]['pq'] == 0.0


def test_sanity_checks():
    gt = np.ones((4, 4), np.int64)
    segs = _segs(gt, {1: 1})
    with pytest.raises(KeyError, match='presented in PNG'):
        pq_compute_single_image(gt, gt * 5, segs, segs, CATS)
    with pytest.raises(KeyError, match='presented in JSON'):
        pq_compute_single_image(
            gt, gt, segs, segs + [dict(id=9, category_id=1)], CATS
        )
    with pytest.raises(KeyError, match='unknown category_id'):
        pq_compute_single_image(
            gt, gt, segs, [dict(id=1, category_id=42)], CATS
        )


def test_pq_stat_merge():
    a, b = PQStat(), PQStat()
    a[1].tp, a[1].iou, b[1].tp, b[1].iou, b[1].fp, b[2].fn = (
        1,
        0.9,
        1,
        0.7,
        2,
        1,
    )
    a += b
    assert (a[1].tp, a[1].fp, a[2].fn) == (2, 2, 1)
    assert a[1].iou == pytest.approx(1.6)


def _write_png(path, id_map):
    Image.fromarray(pq_utils.id2rgb(id_map)).save(path)


@pytest.mark.parametrize('nproc', [1, 2])
def test_pq_compute_from_png_and_json(tmp_path, nproc):
    """Two images through the file-based API (PNG + json), like the official
    ``pq_compute``; large ids check the RGB encoding end to end."""
    gt_dir, pred_dir = tmp_path / 'gt', tmp_path / 'pred'
    gt_dir.mkdir()
    pred_dir.mkdir()
    big = 256 * 256 * 7 + 256 * 3 + 5
    gt1 = np.zeros((10, 10), np.int64)
    gt1[:, :5], gt1[:, 5:] = big, 2
    pred1 = gt1.copy()  # perfect
    gt2 = np.full((10, 10), 4)
    pred2 = np.zeros((10, 10), np.int64)
    pred2[:, :6] = 6  # cat 1 on GT cat 1 of 100 px: IoU 0.6
    anns = []
    for name, gt, pred, gt_cats, pred_cats in (
        ('a.png', gt1, pred1, {big: 1, 2: 2}, {big: 1, 2: 2}),
        ('b.png', gt2, pred2, {4: 1}, {6: 1}),
    ):
        _write_png(gt_dir / name, gt)
        _write_png(pred_dir / name, pred)
        anns.append((name, _segs(gt, gt_cats), _segs(pred, pred_cats)))
    cats = [dict(c) for c in CATS.values()]
    for kind, idx in (('gt', 1), ('pred', 2)):
        with open(tmp_path / f'{kind}.json', 'w') as f:
            json.dump(
                dict(
                    categories=cats,
                    annotations=[
                        dict(image_id=i, file_name=a[0], segments_info=a[idx])
                        for i, a in enumerate(anns)
                    ],
                ),
                f,
            )
    res = pq_compute(
        osp.join(tmp_path, 'gt.json'),
        osp.join(tmp_path, 'pred.json'),
        gt_folder=str(gt_dir),
        pred_folder=str(pred_dir),
        nproc=nproc,
    )
    # cat 1: TP 1.0 (img a) + TP 0.6 (img b) -> PQ 0.8; stuff 2: PQ 1
    assert res['per_class'][1]['pq'] == pytest.approx(0.8)
    assert res['Things'] == pytest.approx(dict(pq=0.8, sq=0.8, rq=1.0, n=1))
    assert res['Stuff'] == pytest.approx(dict(pq=1.0, sq=1.0, rq=1.0, n=1))
    assert res['All']['pq'] == pytest.approx(0.9)
    assert pq_eval.pq_compute_multi_core is not None


SAMPLE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    '..',
    'shared',
    'data',
    'coco_panoptic_sample',
    'sample_data',
)


@pytest.mark.skipif(
    not osp.isdir(SAMPLE), reason='shared coco_panoptic_sample not present'
)
def test_real_sample_perturbed_matches_official(tmp_path):
    """Real COCO sample, prediction = GT shifted 7 px right with the 3rd
    segment of each image removed. Expected numbers were produced by the
    official panopticapi code (PyPI panopticapi-lite 0.2.0, a verbatim copy,
    run on numpy 2) on exactly this input."""
    with open(osp.join(SAMPLE, 'panoptic_examples.json')) as f:
        gt = json.load(f)
    pred = json.loads(json.dumps(gt))
    (tmp_path / 'pred').mkdir()
    for ann in pred['annotations']:
        png = np.array(
            Image.open(osp.join(SAMPLE, 'panoptic_examples', ann['file_name']))
        )
        png = np.roll(png, 7, axis=1)
        drop = ann['segments_info'][2]['id']
        png[pq_utils.rgb2id(png) == drop] = 0
        ann['segments_info'] = [
            s for s in ann['segments_info'] if s['id'] != drop
        ]
        Image.fromarray(png).save(tmp_path / 'pred' / ann['file_name'])
    with open(tmp_path / 'pred.json', 'w') as f:
        json.dump(pred, f)
    res = pq_compute(
        osp.join(SAMPLE, 'panoptic_examples.json'),
        str(tmp_path / 'pred.json'),
        gt_folder=osp.join(SAMPLE, 'panoptic_examples'),
        pred_folder=str(tmp_path / 'pred'),
        nproc=1,
    )
    assert res['All'] == pytest.approx(
        dict(
            pq=0.5545127911550698,
            sq=0.6308170443559781,
            rq=0.7445454545454546,
            n=8,
        ),
        rel=1e-9,
    )
    assert res['Things'] == pytest.approx(
        dict(
            pq=0.31626304390726323,
            sq=0.4688715503090798,
            rq=0.48909090909090913,
            n=4,
        ),
        rel=1e-9,
    )
    assert res['Stuff'] == pytest.approx(
        dict(pq=0.7927625384028765, sq=0.7927625384028765, rq=1.0, n=4),
        rel=1e-9,
    )
    assert res['per_class'][1] == pytest.approx(
        dict(pq=0.18519475570878238, sq=0.578733611589945, rq=0.32), rel=1e-9
    )
