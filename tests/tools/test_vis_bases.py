"""mmblend.visualization.bases_panel and tools/analysis_tools/vis_bases.py:
one panel per image with the K bases, the top detections' attentions,
per-basis products and masks, and mmdet's overlay; on a real coco128-seg
photo."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from module_utils import load_module

from mmblend.visualization import (
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
    info = make_panel(model, cfg, IMAGE, out, num_instances=3,
                      class_names=CLASSES)
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
    rows, cols = 1 + n, 2 + 2 * K
    assert png.shape[:2] == (round(190 * rows), round(190 * cols))
    for r in range(rows):  # every row has drawn content
        band = png[r * png.shape[0] // rows:(r + 1) * png.shape[0] // rows]
        assert band.std() > 10, r

    fig = draw_panel(info, info.image, CLASSES)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == rows * cols
    assert titles[0] == 'overlay'
    assert titles[1:1 + K] == [f'basis {k + 1}' for k in range(K)]
    for i in range(n):
        row = titles[(1 + i) * cols:(2 + i) * cols]
        assert row[0].startswith(f'det {i + 1}: class')
        assert row[1:1 + K] == [f'attn {k + 1}' for k in range(K)]
        assert row[1 + K:1 + 2 * K] == [f'prod {k + 1}' for k in range(K)]
        assert row[-1] == 'mask'
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_cli_writes_one_panel_per_image(cfg, tmp_path):
    model = tiny_model(cfg)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=CLASSES))), ckpt)
    other = osp.join(DATA_ROOT, 'images', 'train2017', '000000000025.jpg')
    written = vis_bases.main([CONFIG, ckpt, IMAGE, other, '--out-dir',
                              str(tmp_path / 'out'), '--num-instances', '2'])
    assert [osp.basename(p) for p in written] == [
        '000000000009_bases.png', '000000000025_bases.png']
    assert all(osp.getsize(p) > 10_000 for p in written)
    with pytest.raises(SystemExit, match='not found'):
        vis_bases.main([CONFIG, ckpt, 'missing.jpg', '--out-dir',
                        str(tmp_path)])


def test_assembler_has_no_attentions(cfg):
    model = tiny_model(cfg, merge='assembler')
    data = load_image(cfg, IMAGE)
    with pytest.raises(ValueError, match="merge='blender'"):
        blend_internals(model, data, 3)
