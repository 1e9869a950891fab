"""The pictures of paper Fig. 1 / Fig. 3: what BlendMask's blender blends.

For one image: the K bases, and for its top detections the K attention maps
(M x M, upsampled to the box), the K per-basis products and the final mask,
beside the prediction overlay, as one panel
(``tools/analysis_tools/vis_bases.py``, ``make demo``).

All calls into BlendMask's internals are in :func:`blend_internals`.
"""

import os.path as osp
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .det_pictures import (
    DPI,
    class_colors,
    draw_legend,
    draw_prediction,
    save_figure,
)

TILE = 1.9  # inches (190 px) per panel cell


@dataclass
class BlendInternals:
    """What the blender saw and made for the top detections of one image.

    Attributes (numpy, input scale ``h x w`` = the resized image, unpadded):
        image: ``[h, w, 3]`` uint8 RGB, the network input before
            normalisation.
        bases: ``[K, h, w]`` bases upsampled to the input.
        bboxes: ``[n, 4]`` boxes (x1, y1, x2, y2) at input scale.
        scores, labels: ``[n]``.
        attns: ``[n, K, R, R]`` attention weights over the box (M x M
            resized to R x R, softmax over K; sigmoid when K == 1).
        products: ``[n, K, R, R]`` per-basis terms of the blend.
        masks: ``[n, R, R]`` final mask probabilities.
    """

    image: np.ndarray
    bases: np.ndarray
    bboxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    attns: np.ndarray
    products: np.ndarray
    masks: np.ndarray


@torch.no_grad()
def blend_internals(model, data: dict, num_instances: int) -> BlendInternals:
    """Run ``model`` on one collated image and return the blender's pieces.

    The only function here that touches BlendMask's internals
    (``extract_feat``, ``bbox_head.predict``, ``mask_head.forward``,
    ``mask_head.blender``): adapt it here when they change.

    Args:
        model: a :class:`~mmblend.models.BlendMask` in eval mode.
        data: ``dict(inputs=[Tensor[3, h, w] uint8 BGR], data_samples=[...])``
            from the test pipeline (one image).
        num_instances: how many top-scoring detections to keep.
    """
    blender = model.mask_head.blender
    if blender.merge_type != 'blender':
        raise ValueError(
            f"vis_bases draws attentions; merge='{blender.merge_type}' has "
            "none (only merge='blender' configs are supported)"
        )
    raw = data['inputs'][0]
    batch = model.data_preprocessor(data, False)
    inputs, samples = batch['inputs'], batch['data_samples']
    x = model.extract_feat(inputs)
    dets = model.bbox_head.predict(x, samples, rescale=False)[0]
    bases = model.mask_head.forward(x)[0]  # [1, K, H/s, W/s]
    order = dets.scores.argsort(descending=True)[:num_instances]
    dets = dets[order]
    n = len(dets)
    rois = torch.cat([dets.bboxes.new_zeros((n, 1)), dets.bboxes], dim=1)
    crops = blender.crop(bases, rois)  # [n, K, R, R]
    attns, products = blender.blend_terms(crops, dets.attns)
    masks = blender.merge(crops, dets.attns).sigmoid()  # [n, R, R]

    h, w = samples[0].img_shape[:2]
    s = blender.bases_stride
    up = F.interpolate(
        bases, scale_factor=s, mode='bilinear', align_corners=False
    )[0, :, :h, :w]
    image = raw[:, :h, :w].flip(0).permute(1, 2, 0).byte().cpu().numpy()
    return BlendInternals(
        image=np.ascontiguousarray(image),
        bases=up.cpu().numpy(),
        bboxes=dets.bboxes.cpu().numpy(),
        scores=dets.scores.cpu().numpy(),
        labels=dets.labels.cpu().numpy(),
        attns=attns.cpu().numpy(),
        products=products.cpu().numpy(),
        masks=masks.cpu().numpy(),
    )


def box_region(box: np.ndarray, h: int, w: int) -> tuple:
    """Integer ``(x1, y1, x2, y2)`` of ``box`` inside an ``h x w`` image,
    at least one pixel wide and high."""
    x1 = int(np.clip(np.floor(box[0]), 0, w - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, h - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, w))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, h))
    return x1, y1, x2, y2


def to_box(maps: np.ndarray, size: tuple) -> np.ndarray:
    """Resize ``[..., R, R]`` maps to ``size = (bh, bw)`` (bilinear)."""
    t = torch.from_numpy(np.ascontiguousarray(maps)).float()
    lead = t.shape[:-2]
    t = t.reshape(-1, 1, *t.shape[-2:])
    t = F.interpolate(t, size=size, mode='bilinear', align_corners=False)
    return t.reshape(*lead, *size).numpy()


def draw_panel(
    info: BlendInternals,
    image: np.ndarray,
    prediction,
    class_names: Optional[Sequence[str]] = None,
    score_thr: float = 0.3,
    colors: Optional[Sequence[tuple]] = None,
):
    """The panel as a matplotlib figure, in tiles of ``TILE`` inches.

    Layout: ``cols = max(2 + 2K, 5 + ceil(K / 2))`` tile columns. The top
    block, 2 tiles high: the overlay over 4 columns (``prediction``, an
    ``InstanceData`` at the scale of ``image``, drawn over it by
    :func:`~.det_pictures.draw_prediction`: the detections scoring at least
    ``score_thr``, labels, the threshold in its title), the legend of its
    colours in the 5th, the K bases in 2 rows on the rest. Then one row per
    detection ``i`` of ``info``: box region, K attentions, K products, mask.
    Axis titles name the cells ('basis k', 'det i: <class> <score>',
    'attn k', 'prod k', 'mask'). Without detections, a note below the top
    block says so.
    """
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    n, K = len(info.scores), info.bases.shape[0]
    base_cols = -(-K // 2)
    cols = max(2 + 2 * K, 5 + base_cols)
    note = 0.0 if n else 0.5  # inches for the "no detections" note
    head = 0.45  # inches for the overlay's two-line title
    fig_h = TILE * (2 + n) + note + head
    fig = plt.figure(figsize=(TILE * cols, fig_h), dpi=DPI)
    grid = fig.add_gridspec(
        2 + n,
        cols,
        left=0.005,
        right=0.995,
        top=1 - head / fig_h,
        bottom=(note + 0.05) / fig_h,
        hspace=0.3,
        wspace=0.08,
    )
    names = (
        list(class_names)
        if class_names
        else [str(i) for i in range(int(info.labels.max(initial=0)) + 1)]
    )
    if len(prediction):
        top = int(prediction.labels.max()) + 1
        names += [str(i) for i in range(len(names), top)]
    colors = colors or class_colors(len(names))
    drawn = draw_prediction(
        fig.add_subplot(grid[:2, :4]),
        image,
        prediction,
        colors,
        names,
        score_thr,
    )
    draw_legend(fig.add_subplot(grid[:2, 4]), drawn.labels, colors, names)

    def show(ax, img, title, heat=None, cmap='viridis', vmin=None, vmax=None):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.imshow(img)
        if heat is not None:
            ax.imshow(heat, cmap=cmap, alpha=0.6, vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=10)

    bases = grid[:2, 5:].subgridspec(2, base_cols, wspace=0.08, hspace=0.3)
    for k in range(K):
        show(
            fig.add_subplot(bases[k // base_cols, k % base_cols]),
            info.image,
            f'basis {k + 1}',
            info.bases[k],
            cmap='coolwarm',
        )
    h, w = info.image.shape[:2]
    for i in range(n):
        x1, y1, x2, y2 = box_region(info.bboxes[i], h, w)
        crop = info.image[y1:y2, x1:x2]
        size = crop.shape[:2]
        label = int(info.labels[i])
        row = [fig.add_subplot(grid[2 + i, c]) for c in range(2 + 2 * K)]
        show(row[0], crop, f'det {i + 1}: {names[label]} {info.scores[i]:.2f}')
        attns = to_box(info.attns[i], size)
        prods = to_box(info.products[i], size)
        lim = float(np.abs(prods).max()) or 1.0
        for k in range(K):
            show(row[1 + k], crop, f'attn {k + 1}', attns[k], vmin=0, vmax=1)
            show(
                row[1 + K + k],
                crop,
                f'prod {k + 1}',
                prods[k],
                cmap='coolwarm',
                vmin=-lim,
                vmax=lim,
            )
        show(
            row[1 + 2 * K],
            crop,
            'mask',
            to_box(info.masks[i], size),
            cmap='gray',
            vmin=0,
            vmax=1,
        )
    if not n:
        fig.text(
            0.5,
            0.5 * note / fig_h,
            'no detections (score above the test_cfg score_thr): '
            'no attentions to draw',
            ha='center',
            va='center',
            fontsize=12,
        )
    return fig


def load_image(cfg, img_path: str) -> dict:
    """One image through the config's test pipeline (without annotations),
    collated as ``dict(inputs=[...], data_samples=[...])``."""
    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg

    steps = [
        t
        for t in get_test_pipeline_cfg(cfg)
        if 'LoadAnnotations' not in t['type']
    ]
    sample = Compose(steps)(dict(img_path=img_path, img_id=0))
    return dict(
        inputs=[sample['inputs']], data_samples=[sample['data_samples']]
    )


def make_panel(
    model,
    cfg,
    img_path: str,
    out_file: str,
    num_instances: int = 3,
    score_thr: float = 0.3,
    class_names: Optional[Sequence[str]] = None,
    palette=None,
) -> BlendInternals:
    """Write the panel of ``img_path`` to ``out_file`` (PNG).

    Args:
        model: BlendMask in eval mode (unwrapped).
        cfg: its config (for the test pipeline).
        score_thr: score threshold of the overlay only (the rows show the
            top ``num_instances`` detections whatever their score).
        class_names, palette: the dataset's classes and colours (0..255
            RGB triples); default: the model's ``dataset_meta``.

    Returns:
        the :class:`BlendInternals` drawn.
    """
    import mmcv

    if not osp.isfile(img_path):
        raise FileNotFoundError(f'image {img_path!r} not found')
    model.eval()
    data = load_image(cfg, img_path)
    info = blend_internals(model, data, num_instances)
    with torch.no_grad():
        result = model.test_step(load_image(cfg, img_path))[0]
    meta = getattr(model, 'dataset_meta', None) or {}
    names = class_names or meta.get('classes')
    colors = (
        class_colors(len(names), palette or meta.get('palette'))
        if names
        else None
    )
    img = mmcv.imread(img_path, channel_order='rgb')
    fig = draw_panel(
        info, img, result.pred_instances, names, score_thr, colors
    )
    save_figure(fig, out_file)
    return info
