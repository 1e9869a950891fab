"""Pictures of instance predictions that a person can read.

Ground truth beside prediction, one row per photo, with the score threshold
written on the picture, one colour per class (the same in both panels, so a
wrong class shows as another colour) and a legend of the classes drawn;
labels never overlap (a label that finds no free place is left out and the
count is written on the panel) and are large enough to read at the saved
size. Used by ``make demo`` (``tools/demo.py``) and the bases panel
(:mod:`.bases_panel`).

Drawing is matplotlib's (Agg); pixel sizes below are at ``DPI``.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

DPI = 100
FONT_SIZE = 10  # points: 14 px high labels at DPI
MASK_ALPHA = 0.45
LABEL_PAD = 1.5  # points around a label's text
Color = Tuple[float, float, float]


def class_colors(num_classes: int, palette=None) -> List[Color]:
    """One RGB colour (0..1) per class: the dataset's ``palette`` (its
    metainfo's, a list of 0..255 triples) or mmdet's seeded random one."""
    from mmdet.visualization.palette import get_palette

    return [
        tuple(c / 255 for c in rgb)
        for rgb in get_palette(palette, num_classes)
    ]


def place_labels(
    boxes: np.ndarray, sizes: np.ndarray, width: float, height: float
) -> List[Optional[Tuple[float, float]]]:
    """Top-left corners of labels that do not overlap each other.

    Each label is tried above the top-left corner of its box, inside it at
    the top-left, below the bottom-left corner, inside at the bottom-left,
    then the same at the right-hand corners, each moved into the image; the
    first place that overlaps no label placed before it is taken.

    Args:
        boxes: ``[n, 4]`` boxes (x1, y1, x2, y2) in image pixels (y down),
            in priority order (earlier boxes get the better places).
        sizes: ``[n, 2]`` label (width, height) in image pixels.
        width, height: the image size.

    Returns:
        for each box ``(x, y)``, the top-left corner of its label, or None
        when every place overlaps an earlier label.
    """
    placed, out = [], []
    for (x1, y1, x2, y2), (w, h) in zip(
        np.asarray(boxes, float), np.asarray(sizes, float)
    ):
        found = None
        for x in (x1, x2 - w):
            for y in (y1 - h, y1, y2, y2 - h):
                x = min(max(x, 0.0), max(width - w, 0.0))
                y = min(max(y, 0.0), max(height - h, 0.0))
                if not any(
                    x < px + pw and px < x + w and y < py + ph and py < y + h
                    for px, py, pw, ph in placed
                ):
                    found = (x, y)
                    break
            if found:
                break
        if found:
            placed.append((*found, w, h))
        out.append(found)
    return out


@dataclass
class Drawn:
    """What :func:`draw_instances` drew on one axes.

    Attributes:
        labels: the class indices drawn, in drawing order.
        hidden: how many labels found no free place (their masks and boxes
            are drawn, the legend gives their colour).
    """

    labels: List[int] = field(default_factory=list)
    hidden: int = 0


def _numpy(instances, key: str) -> np.ndarray:
    value = instances.get(key)
    if value is None:
        return None
    value = getattr(value, 'tensor', value)  # mmdet box types
    if hasattr(value, 'to_ndarray'):  # BitmapMasks / PolygonMasks
        return value.to_ndarray()
    return (
        value.detach().cpu().numpy()
        if hasattr(value, 'detach')
        else np.asarray(value)
    )


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it, 2 px thick."""
    m = np.pad(mask, 2)
    inner = m.copy()
    for dy, dx in ((-2, 0), (2, 0), (0, -2), (0, 2)):
        inner &= np.roll(m, (dy, dx), axis=(0, 1))
    return (m & ~inner)[2:-2, 2:-2]


def _text_color(color: Color) -> str:
    r, g, b = color
    return 'black' if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else 'white'


def draw_instances(
    ax,
    image: np.ndarray,
    instances,
    colors: Sequence[Color],
    class_names: Sequence[str],
    fontsize: float = FONT_SIZE,
) -> Drawn:
    """Draw ``image`` with the masks, boxes and labels of ``instances``.

    Args:
        ax: a matplotlib axes (its figure sets the pixel scale of labels).
        image: ``[H, W, 3]`` uint8 RGB.
        instances: :class:`~mmengine.structures.InstanceData` with
            ``bboxes [n, 4]`` and ``labels [n]`` at the image's scale,
            optionally ``masks [n, H, W]`` (tensor or mmdet masks) and
            ``scores [n]`` (then labels read "class score" and are placed
            in score order, otherwise largest box first).
        colors: one RGB colour (0..1) per class.
        class_names: one name per class.
    """
    bboxes = _numpy(instances, 'bboxes').reshape(-1, 4)
    labels = _numpy(instances, 'labels').astype(int).reshape(-1)
    scores = _numpy(instances, 'scores')
    masks = _numpy(instances, 'masks') if len(labels) else None
    if scores is not None:
        order = np.argsort(-scores, kind='stable')
    else:
        area = (bboxes[:, 2] - bboxes[:, 0]) * (bboxes[:, 3] - bboxes[:, 1])
        order = np.argsort(-area, kind='stable')
    canvas = image.astype(np.float32) / 255
    h, w = canvas.shape[:2]
    if masks is not None:  # smallest on top: paint the largest first
        for i in sorted(order, key=lambda i: -masks[i].sum()):
            m = masks[i].astype(bool)[:h, :w]
            color = np.asarray(colors[labels[i]], np.float32)
            canvas[m] = canvas[m] * (1 - MASK_ALPHA) + color * MASK_ALPHA
            canvas[_outline(m)] = color
    ax.imshow(canvas)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    from matplotlib.patches import Rectangle

    texts = []
    for i in order:
        x1, y1, x2, y2 = bboxes[i]
        color = colors[labels[i]]
        ax.add_patch(
            Rectangle(
                (x1, y1),
                x2 - x1,
                y2 - y1,
                fill=False,
                edgecolor=color,
                linewidth=1.5,
            )
        )
        name = class_names[labels[i]]
        text = name if scores is None else f'{name} {scores[i]:.2f}'
        texts.append(
            ax.text(
                0,
                0,
                text,
                fontsize=fontsize,
                color=_text_color(color),
                va='top',
                ha='left',
                bbox=dict(
                    facecolor=color,
                    alpha=0.85,
                    pad=LABEL_PAD,
                    edgecolor='none',
                ),
            )
        )
    drawn = Drawn(labels=[int(labels[i]) for i in order])
    if not texts:
        return drawn
    # label boxes (text and its padding) in image pixels, at the axes'
    # final (equal-aspect) size
    ax.apply_aspect()
    renderer = ax.figure.canvas.get_renderer()
    to_data = ax.transData.inverted()
    pad = LABEL_PAD * ax.figure.dpi / 72  # display pixels
    sizes = []
    for t in texts:
        (x0, y0), (x1, y1) = to_data.transform(
            t.get_window_extent(renderer).padded(pad).get_points()
        )
        sizes.append((abs(x1 - x0), abs(y1 - y0)))
    pad_x, pad_y = np.abs(
        to_data.transform([(pad, pad)]) - to_data.transform([(0, 0)])
    )[0]
    corners = place_labels(bboxes[order], sizes, w, h)
    for t, corner in zip(texts, corners):
        if corner is None:
            t.remove()
            drawn.hidden += 1
        else:
            t.set_position((corner[0] + pad_x, corner[1] + pad_y))
    return drawn


def draw_legend(
    ax,
    labels: Sequence[int],
    colors: Sequence[Color],
    class_names: Sequence[str],
    fontsize: float = FONT_SIZE,
) -> None:
    """A legend of the colours of ``labels`` (each class once, by name) in
    ``ax``, whose own frame is hidden; in two columns past 14 classes."""
    from matplotlib.patches import Patch

    ax.set_axis_off()
    classes = sorted(set(int(i) for i in labels), key=lambda i: class_names[i])
    if not classes:
        return
    ax.legend(
        handles=[
            Patch(facecolor=colors[i], edgecolor='none', label=class_names[i])
            for i in classes
        ],
        loc='upper left',
        frameon=False,
        fontsize=fontsize,
        ncol=1 if len(classes) <= 14 else 2,
        handlelength=1.2,
        borderaxespad=0,
        title='colour = class',
        title_fontsize=fontsize,
    )


def _note(ax, text: str, fontsize: float = FONT_SIZE) -> None:
    """A boxed message in the middle of ``ax``."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha='center',
        va='center',
        fontsize=fontsize + 1,
        wrap=True,
        bbox=dict(facecolor='white', alpha=0.85, edgecolor='black'),
    )


def _left_out(hidden: int) -> str:
    """The title line counting labels without a free place."""
    plural = '' if hidden == 1 else 's'
    return f'\n({hidden} label{plural} left out: no free place)'


def draw_prediction(
    ax,
    image: np.ndarray,
    pred,
    colors: Sequence[Color],
    class_names: Sequence[str],
    score_thr: float,
    fontsize: float = FONT_SIZE,
) -> Drawn:
    """:func:`draw_instances` of the detections of ``pred`` scoring at
    least ``score_thr``, the threshold and counts in the axes title, and a
    note in place of the masks when none scores that high."""
    keep = pred[pred.scores >= score_thr]
    drawn = draw_instances(ax, image, keep, colors, class_names, fontsize)
    title = (
        f'prediction: {len(keep)} of {len(pred)} detections with '
        f'score \u2265 {score_thr:.2f}'
    )
    if drawn.hidden:
        title += _left_out(drawn.hidden)
    ax.set_title(title, fontsize=fontsize + 1)
    if not len(keep):
        best = f'{float(pred.scores.max()):.2f}' if len(pred) else 'none'
        _note(
            ax,
            f'no detection with score \u2265 {score_thr:.2f}\n'
            f'(highest score: {best})',
            fontsize,
        )
    return drawn


@dataclass
class Sample:
    """One photo for :func:`draw_comparison`.

    Attributes:
        name: shown in the titles (e.g. the file name).
        image: ``[H, W, 3]`` uint8 RGB at its original size.
        gt: ground truth ``InstanceData`` (``bboxes``, ``labels``,
            ``masks``) at the image's scale.
        pred: predicted ``InstanceData`` (``bboxes``, ``labels``,
            ``scores``, ``masks``) at the image's scale, all scores.
    """

    name: str
    image: np.ndarray
    gt: object
    pred: object


def draw_comparison(
    samples: Sequence[Sample],
    colors: Sequence[Color],
    class_names: Sequence[str],
    score_thr: float,
    title: Optional[str] = None,
    panel_width: float = 5.0,
    fontsize: float = FONT_SIZE,
):
    """Ground truth (left) beside prediction (right), one row per sample,
    with a legend of the row's classes on the right.

    The layout depends only on the images' sizes, not on what is detected:
    each panel is ``panel_width`` inches wide (``DPI`` px per inch), each
    row as high as its image at that width, 0.75 inches between rows, 0.9
    above the first (0.5 without ``title``), the legend column 2.2 inches.

    Returns:
        the matplotlib figure (close it after saving).
    """
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    if not samples:
        raise ValueError('draw_comparison: no samples to draw')
    heights = [
        panel_width * s.image.shape[0] / s.image.shape[1] for s in samples
    ]
    head = 0.9 if title else 0.5  # inches above the first row
    row_pad = 0.75  # inches between rows (the next row's titles)
    foot = 0.1  # inches below the last row
    fig_h = head + sum(heights) + row_pad * (len(samples) - 1) + foot
    legend_w = 2.2
    fig = plt.figure(
        figsize=(2 * panel_width + legend_w + 0.3, fig_h), dpi=DPI
    )
    grid = fig.add_gridspec(
        len(samples),
        3,
        width_ratios=[panel_width, panel_width, legend_w],
        height_ratios=heights,
        left=0.01,
        right=0.99,
        bottom=foot / fig_h,
        top=1 - head / fig_h,
        hspace=row_pad * len(samples) / sum(heights),
        wspace=0.04,
    )
    if title:
        fig.suptitle(
            title, fontsize=fontsize + 3, y=1 - 0.15 / fig_h, va='top'
        )
    for r, s in enumerate(samples):
        ax_gt, ax_pred, ax_leg = (
            fig.add_subplot(grid[r, c]) for c in range(3)
        )
        gt = draw_instances(
            ax_gt, s.image, s.gt, colors, class_names, fontsize
        )
        gt_title = f'{s.name}: ground truth, {len(s.gt)} instances'
        if gt.hidden:
            gt_title += _left_out(gt.hidden)
        ax_gt.set_title(gt_title, fontsize=fontsize + 1)
        if not len(s.gt):
            _note(ax_gt, 'no annotated instance', fontsize)
        pred = draw_prediction(
            ax_pred, s.image, s.pred, colors, class_names, score_thr, fontsize
        )
        draw_legend(
            ax_leg, gt.labels + pred.labels, colors, class_names, fontsize
        )
    return fig


def save_figure(fig, out_file: str) -> str:
    """Write ``fig`` at ``DPI`` (JPEG quality 90 for .jpg) and close it."""
    import os
    import os.path as osp

    import matplotlib.pyplot as plt

    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    kwargs = (
        dict(pil_kwargs=dict(quality=90))
        if out_file.lower().endswith(('.jpg', '.jpeg'))
        else {}
    )
    fig.savefig(out_file, dpi=DPI, **kwargs)
    plt.close(fig)
    return out_file
