"""mmdet's visualiser with skeletons."""

from typing import List, Optional

import numpy as np
import torch
from mmdet.registry import VISUALIZERS
from mmdet.visualization import DetLocalVisualizer

from ..datasets.coco_keypoint_dataset import COCO_KEYPOINT_NAMES, COCO_SKELETON

# link / point colours by body side (RGB)
SIDE_COLORS = dict(
    left=(0, 200, 0), right=(255, 128, 0), centre=(51, 153, 255)
)


def _side(name: str) -> str:
    for side in ('left', 'right'):
        if name.startswith(side + '_'):
            return side
    return 'centre'


@VISUALIZERS.register_module()
class KeypointDetLocalVisualizer(DetLocalVisualizer):
    """mmdet's :class:`~mmdet.visualization.DetLocalVisualizer` that also
    draws each instance's keypoints and skeleton: ground truth
    (``gt_instances.keypoints [N, J, 3]``, the labelled ones) and
    predictions (``pred_instances.keypoints [N, J, 2]``, those whose
    ``keypoint_scores`` reach ``kpt_thr``; instances below the caller's
    ``pred_score_thr`` are not drawn at all, as their boxes).

    The skeleton and the keypoint names (left side green, right orange,
    centre blue) come from ``dataset_meta`` (``skeleton``,
    ``keypoint_names`` of :class:`~mmblend.datasets.CocoKeypointDataset`,
    saved in checkpoints), COCO's for 17 keypoints without them. It is what
    ``tools/test.py --show-dir``, ``tools/image_demo.py`` and
    ``DetInferencer`` draw with when the config sets
    ``visualizer = dict(type='KeypointDetLocalVisualizer', ...)``.

    Args:
        kpt_thr (float): least keypoint score drawn. Defaults to 0.05
            (detectron2's visualiser).
        keypoint_radius (int): Defaults to 3.
        skeleton_width (int): Defaults to 2.
        **kwargs: as ``DetLocalVisualizer``.
    """

    def __init__(
        self,
        name: str = 'visualizer',
        kpt_thr: float = 0.05,
        keypoint_radius: int = 3,
        skeleton_width: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.kpt_thr = kpt_thr
        self.keypoint_radius = keypoint_radius
        self.skeleton_width = skeleton_width

    def _layout(self, num_keypoints: int):
        """(skeleton, keypoint names) for ``num_keypoints``."""
        meta = self.dataset_meta or {}
        names = meta.get('keypoint_names')
        skeleton = meta.get('skeleton')
        if names is None and num_keypoints == len(COCO_KEYPOINT_NAMES):
            names, skeleton = COCO_KEYPOINT_NAMES, skeleton or COCO_SKELETON
        if names is None or len(names) != num_keypoints:
            names = [str(j) for j in range(num_keypoints)]
        return list(skeleton or []), list(names)

    def _draw_instances(
        self,
        image: np.ndarray,
        instances,
        classes: Optional[List[str]],
        palette: Optional[List[tuple]],
    ) -> np.ndarray:
        image = super()._draw_instances(image, instances, classes, palette)
        if 'keypoints' not in instances or len(instances) == 0:
            return image
        kps = instances.keypoints
        kps = kps.cpu().numpy() if isinstance(kps, torch.Tensor) else kps
        if kps.shape[-1] == 3:  # ground truth (x, y, v)
            shown = kps[..., 2] > 0
        elif 'keypoint_scores' in instances:
            scores = instances.keypoint_scores
            if isinstance(scores, torch.Tensor):
                scores = scores.cpu().numpy()
            shown = scores >= self.kpt_thr
        else:
            shown = np.ones(kps.shape[:2], bool)
        h, w = image.shape[:2]
        shown &= (
            (kps[..., 0] >= 0)
            & (kps[..., 0] <= w)
            & (kps[..., 1] >= 0)
            & (kps[..., 1] <= h)
        )
        skeleton, names = self._layout(kps.shape[1])
        colors = [SIDE_COLORS[_side(n)] for n in names]
        self.set_image(image)
        # a circle reaching over the border must not rescale the axes
        self.ax_save.set_autoscale_on(False)
        for xy, vis in zip(kps[..., :2], shown):
            links = [(a, b) for a, b in skeleton if vis[a] and vis[b]]
            if links:
                self.draw_lines(
                    np.array([[xy[a, 0], xy[b, 0]] for a, b in links]),
                    np.array([[xy[a, 1], xy[b, 1]] for a, b in links]),
                    colors=[
                        colors[b]
                        if _side(names[a]) == _side(names[b])
                        else SIDE_COLORS['centre']
                        for a, b in links
                    ],
                    line_widths=self.skeleton_width,
                )
            if vis.any():
                self.draw_circles(
                    xy[vis],
                    np.full(int(vis.sum()), self.keypoint_radius),
                    edge_colors=[colors[j] for j in np.flatnonzero(vis)],
                    face_colors=[colors[j] for j in np.flatnonzero(vis)],
                    line_widths=1,
                    alpha=1.0,
                )
                # points over the links (matplotlib draws lines above
                # patches by default)
                self.ax_save.collections[-1].set_zorder(3)
        return self.get_image()
