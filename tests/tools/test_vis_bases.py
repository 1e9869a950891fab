"""mmblend.visualization.bases_panel and tools/analysis_tools/vis_bases.py:
one panel per image with the K bases, the top detections' attentions,
per-basis products and masks, and mmdet's overlay; on a real coco128-seg
photo."""

import copy
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.structures import InstanceData
from module_utils import load_module

from mmblend.visualization import (
    TILE,
    blend_internals,
    draw_panel,
    load_image,
    make_panel,
)
from tiny_config import DATA_ROOT, REPO_ROOT

vis_bases = load_module('tools/analysis_tools/vis_bases.py', 'vis_bases')

CONFIG = osp.join(REPO_ROOT, 'tests', 'configs', 'blendmask_tiny_coco128.py')
IMAGE = osp.join(DATA_ROOT, 'images', 'train2017', '000000000009.jpg')
CLASSES = [f'class{i}' for i in range(80)]


def tiny_model(cfg, **blender):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.mask_head.blender.update(blender)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.eval()


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(CONFIG)


def test_panel_layout_and_content(cfg, tmp_path):
    model = tiny_model(cfg)
    K = model.mask_head.blender.num_bases
    out = str(tmp_path / 'panel.png')
    info = make_panel(
        model, cfg, IMAGE, out, num_instances=3, class_names=CLASSES
    )
    n = len(info.scores)
    assert n == 3 and info.bases.shape[0] == K
    h, w = info.image.shape[:2]
    assert max(h, w) == 224 or min(h, w) == 160  # the config's test scale
    assert info.bases.shape == (K, h, w)
    assert info.attns.shape == info.products.shape[:2] + (28, 28)
    # non-trivial: every basis varies over the image, the attention is a
    # distribution over the K bases, the mask is a varying probability
    assert all(b.std() > 0 for b in info.bases)
    np.testing.assert_allclose(info.attns.sum(1), 1, atol=1e-5)
    assert 0 <= info.masks.min() and info.masks.max() <= 1
    assert info.masks.std() > 0
    assert np.all(np.diff(info.scores) <= 0)  # top detections first

    from PIL import Image

    png = np.asarray(Image.open(out).convert('RGB'))
    cols = 2 + 2 * K
    tile = 100 * TILE
    # matplotlib rounds the saved figure's size differently across
    # versions (3.10 one pixel less than 3.11): within a pixel
    expected = (tile * (2 + n) + 45, tile * cols)
    assert np.abs(np.subtract(png.shape[:2], expected)).max() <= 1, (
        png.shape,
        expected,
    )
    for r in range(n):  # every detection row has drawn content
        band = png[-round(tile * (r + 1)) :][: round(tile)]
        assert band.std() > 10, r

    # the untrained model's 100 detections score < 0.3: drawn at 0
    pred = model.test_step(load_image(cfg, IMAGE))[0].pred_instances
    fig = draw_panel(
        info,
        mmcv.imread(IMAGE, channel_order='rgb'),
        pred,
        CLASSES,
        score_thr=0.0,
    )
    titles = [ax.get_title() for ax in fig.axes]
    # the overlay (prediction, threshold stated) over 4 tiles, the legend
    # of its colours, then the bases and the detection rows
    assert titles[0].startswith(
        f'prediction: {len(pred)} of {len(pred)} detections with score '
        '\u2265 0.00'
    )
    # (the photo keeps its aspect: 3:2, so its height sets the size)
    overlay = fig.axes[0].get_position()
    assert overlay.width * fig.get_figwidth() > 2.2 * TILE
    assert overlay.height * fig.get_figheight() > 1.5 * TILE
    legend = {t.get_text() for t in fig.axes[1].get_legend().get_texts()}
    assert legend == {CLASSES[i] for i in pred.labels.tolist()}
    assert titles[2 : 2 + K] == [f'basis {k + 1}' for k in range(K)]
    for i in range(n):
        row = titles[2 + K + i * cols : 2 + K + (i + 1) * cols]
        assert row[0].startswith(f'det {i + 1}: class')
        assert row[1 : 1 + K] == [f'attn {k + 1}' for k in range(K)]
        assert row[1 + K : 1 + 2 * K] == [f'prod {k + 1}' for k in range(K)]
        assert row[-1] == 'mask'
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_panel_without_detections(cfg, tmp_path):
    """No detection: the overlay, the bases and a note, not a strip."""
    model = tiny_model(cfg)
    model.bbox_head.test_cfg.score_thr = 1.01
    out = str(tmp_path / 'panel.png')
    info = make_panel(
        model, cfg, IMAGE, out, num_instances=3, class_names=CLASSES
    )
    assert len(info.scores) == 0
    K = info.bases.shape[0]
    from PIL import Image

    png = Image.open(out)
    assert png.size == (
        round(100 * TILE * (2 + 2 * K)),
        round(100 * (2 * TILE + 0.5 + 0.45)),
    )
    fig = draw_panel(
        info,
        info.image,
        InstanceData(
            bboxes=torch.zeros(0, 4),
            labels=torch.zeros(0, dtype=torch.long),
            scores=torch.zeros(0),
        ),
        CLASSES,
    )
    assert [t.get_text() for t in fig.texts] == [
        'no detections (score above the test_cfg score_thr): no attentions '
        'to draw'
    ]
    assert (
        'no detection with score \u2265 0.30'
        in fig.axes[0].texts[0].get_text()
    )
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_cli_writes_one_panel_per_image(cfg, tmp_path):
    model = tiny_model(cfg)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES)),
        ),
        ckpt,
    )
    other = osp.join(DATA_ROOT, 'images', 'train2017', '000000000025.jpg')
    written = vis_bases.main(
        [
            CONFIG,
            ckpt,
            IMAGE,
            other,
            '--out-dir',
            str(tmp_path / 'out'),
            '--num-instances',
            '2',
        ]
    )
    assert [osp.basename(p) for p in written] == [
        '000000000009_bases.png',
        '000000000025_bases.png',
    ]
    assert all(osp.getsize(p) > 10_000 for p in written)
    with pytest.raises(SystemExit, match='not found'):
        vis_bases.main(
            [CONFIG, ckpt, 'missing.jpg', '--out-dir', str(tmp_path)]
        )


def test_assembler_has_no_attentions(cfg):
    model = tiny_model(cfg, merge='assembler')
    data = load_image(cfg, IMAGE)
    with pytest.raises(ValueError, match="merge='blender'"):
        blend_internals(model, data, 3)
