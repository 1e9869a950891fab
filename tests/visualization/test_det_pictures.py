"""mmblend.visualization.det_pictures: labels that do not overlap and can
be read, the score threshold and a class legend on the picture, and a
layout that does not depend on how much is detected (0 or 150
detections). The detections are synthetic (layout only) on a real
coco128-seg photo."""

import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmblend.visualization import (
    Sample,
    class_colors,
    draw_comparison,
    place_labels,
    save_figure,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTO = osp.join(
    REPO,
    'demo',
    'data',
    'coco128-seg',
    'images',
    'train2017',
    '000000000025.jpg',
)
NAMES = [f'class {i}' for i in range(80)]
COLORS = class_colors(80)


def instances(n, h, w, seed=0, scores=True):
    """``n`` random boxes with their box-shaped masks."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1, (n, 2)) * (w - 40, h - 40)
    wh = rng.uniform(20, 200, (n, 2))
    boxes = np.concatenate([xy, np.minimum(xy + wh, (w, h))], 1)
    masks = np.zeros((n, h, w), bool)
    for m, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
        m[y1:y2, x1:x2] = True
    out = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        labels=torch.tensor(rng.integers(0, 80, n)),
        masks=torch.from_numpy(masks),
    )
    if scores:
        out.scores = torch.tensor(rng.uniform(0, 1, n), dtype=torch.float32)
    return out


def overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_place_labels():
    assert place_labels(np.zeros((0, 4)), np.zeros((0, 2)), 100, 100) == []
    # room above the box: the label sits on top of its top-left corner
    assert place_labels([[10, 30, 50, 60]], [[30, 12]], 100, 100) == [(10, 18)]
    # at the top of the image: moved inside
    assert place_labels([[10, 0, 50, 60]], [[30, 12]], 100, 100) == [(10, 0)]
    # 300 boxes piled up: the placed labels never overlap, stay inside the
    # image, and those without a free place are left out
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (300, 2))
    boxes = np.concatenate([xy, xy + 40], 1)
    sizes = rng.uniform([30, 10], [80, 16], (300, 2))
    corners = place_labels(boxes, sizes, 240, 240)
    rects = [
        (x, y, x + w, y + h)
        for c, (w, h) in zip(corners, sizes)
        if c
        for x, y in [c]
    ]
    assert 10 < len(rects) < 300
    for i, (x0, y0, x1, y1) in enumerate(rects):
        assert 0 <= x0 and x1 <= 240 and 0 <= y0 and y1 <= 240
        for u0, v0, u1, v1 in rects[:i]:
            assert not (x0 < u1 and u0 < x1 and y0 < v1 and v0 < y1)


@pytest.mark.parametrize('num_pred', [0, 150])
def test_comparison_layout(num_pred, tmp_path):
    img = mmcv.imread(PHOTO, channel_order='rgb')
    h, w = img.shape[:2]
    gt = instances(5, h, w, seed=1, scores=False)
    pred = instances(num_pred, h, w, seed=2)
    fig = draw_comparison(
        [Sample('photo.jpg', img, gt, pred)],
        COLORS,
        NAMES,
        score_thr=0.3,
        title='a title',
    )
    fig.canvas.draw()  # places the labels' boxes
    renderer = fig.canvas.get_renderer()
    ax_gt, ax_pred, ax_legend = fig.axes
    kept = int((pred.scores >= 0.3).sum()) if num_pred else 0
    title = ax_pred.get_title()
    assert title.startswith(
        f'prediction: {kept} of {num_pred} detections with score \u2265 0.30'
    )
    assert ax_gt.get_title().startswith('photo.jpg: ground truth, 5 ')
    for ax in (ax_gt, ax_pred):
        labels = [
            t
            for t in ax.texts
            if t.get_bbox_patch() is not None and t.get_text()[0:5] == 'class'
        ]
        boxes = [
            t.get_bbox_patch().get_window_extent(renderer) for t in labels
        ]
        frame = ax.get_window_extent(renderer)
        for i, b in enumerate(boxes):  # readable and apart
            assert b.height >= 12
            assert frame.x0 - 1 <= b.x0 and b.x1 <= frame.x1 + 1
            assert frame.y0 - 1 <= b.y0 and b.y1 <= frame.y1 + 1
            assert not any(overlap(b, o) for o in boxes[:i])
        shown = len(labels)
        if ax is ax_pred:
            hidden = kept - shown
            assert 0 < shown and 0 < hidden if num_pred else shown == 0
            assert (f'({hidden} label' in title) == (hidden > 0)
    if not num_pred:
        assert any(
            'no detection with score \u2265 0.30' in t.get_text()
            for t in ax_pred.texts
        )
    # the legend names each class drawn once, with its colour
    drawn = set(gt.labels.tolist()) | set(
        pred.labels[pred.scores >= 0.3].tolist() if num_pred else []
    )
    legend = ax_legend.get_legend()
    assert legend.get_title().get_text() == 'colour = class'
    entries = {
        t.get_text(): p.get_facecolor()[:3]
        for t, p in zip(legend.get_texts(), legend.get_patches())
    }
    assert entries.keys() == {NAMES[i] for i in drawn}
    for i in drawn:
        np.testing.assert_allclose(entries[NAMES[i]], COLORS[i])
    # the picture's size depends on the photo only (titles 0.9 in, 5-inch
    # panels, 0.1 in below), and panels are large and fill their row
    out = save_figure(fig, str(tmp_path / 'cmp.jpg'))
    out_h, out_w = mmcv.imread(out).shape[:2]
    assert out_w == 1250
    assert abs(out_h - 100 * (0.9 + 5 * h / w + 0.1)) <= 1
    panel = ax_pred.get_window_extent(renderer)
    assert panel.width >= 480
    assert panel.height >= 0.97 * 500 * h / w
