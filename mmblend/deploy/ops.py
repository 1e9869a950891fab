"""NMS and RoIAlign with their own ONNX symbolics.

mmcv's ``nms`` has no ONNX symbolic (the TorchScript exporter traces its
result as a constant) and mmcv's ``RoIAlign`` symbolic is invalid at opset
>= 13 (and not equal to ``aligned=True`` at opset 11 for boxes smaller than a
feature pixel). These two :class:`torch.autograd.Function` s compute with
mmcv's kernels in eager mode and export as the standard ONNX operators:

* :func:`nms_keep` -> ``NonMaxSuppression`` (IoU ``>`` threshold suppresses,
  areas without the ``+1`` offset: mmcv's ``nms`` with ``offset=0``);
* :func:`roi_align` -> opset-16 ``RoiAlign`` with
  ``coordinate_transformation_mode='half_pixel'`` (mmcv ``aligned=True``:
  corners shifted by half a pixel, no minimum box size).
"""

from typing import Any

import torch
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from torch import Tensor
from torch.autograd import Function

#: the ONNX opset the exported graphs use (RoiAlign's half_pixel mode)
OPSET = 16


class _NMSKeep(Function):
    @staticmethod
    def forward(
        ctx: Any, boxes: Tensor, scores: Tensor, iou_threshold: float
    ) -> Tensor:
        _, keep = mmcv_nms(boxes, scores, iou_threshold)
        return keep

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold: float):
        # [1, N, 4] with the 4 stated (OpenVINO needs it static)
        boxes = g.op(
            'Reshape',
            boxes,
            g.op('Constant', value_t=torch.tensor([1, -1, 4])),
        )
        scores = g.op(
            'Unsqueeze', scores, g.op('Constant', value_t=torch.tensor([0, 1]))
        )
        max_out = g.op(
            'Constant', value_t=torch.tensor([2**31 - 1], dtype=torch.long)
        )
        iou = g.op(
            'Constant',
            value_t=torch.tensor([iou_threshold], dtype=torch.float),
        )
        selected = g.op(
            'NonMaxSuppression',
            boxes,
            scores,
            max_out,
            iou,
            center_point_box_i=0,
        )  # [S, 3]: batch, class, box
        col = g.op('Constant', value_t=torch.tensor([2]))
        keep = g.op('Gather', selected, col, axis_i=1)
        return g.op(
            'Squeeze', keep, g.op('Constant', value_t=torch.tensor([1]))
        )


def nms_keep(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Indices ``[S]`` (int64, by descending score) kept by NMS of
    ``boxes [N, 4]`` (x1, y1, x2, y2) with ``scores [N]``; in ONNX a
    ``NonMaxSuppression`` node."""
    return _NMSKeep.apply(boxes, scores, float(iou_threshold))


class _RoIAlign(Function):
    @staticmethod
    def forward(
        ctx: Any,
        feats: Tensor,
        boxes: Tensor,
        batch_inds: Tensor,
        output_size: int,
        spatial_scale: float,
        sampling_ratio: int,
    ) -> Tensor:
        rois = torch.cat([batch_inds.to(boxes.dtype)[:, None], boxes], dim=1)
        return mmcv_roi_align(
            feats,
            rois,
            (output_size, output_size),
            spatial_scale,
            sampling_ratio,
            'avg',
            True,
        )

    @staticmethod
    def symbolic(
        g,
        feats,
        boxes,
        batch_inds,
        output_size: int,
        spatial_scale: float,
        sampling_ratio: int,
    ):
        # [n, 4] with the 4 stated (OpenVINO needs it static)
        boxes = g.op(
            'Reshape', boxes, g.op('Constant', value_t=torch.tensor([-1, 4]))
        )
        return g.op(
            'RoiAlign',
            feats,
            boxes,
            batch_inds,
            coordinate_transformation_mode_s='half_pixel',
            mode_s='avg',
            output_height_i=output_size,
            output_width_i=output_size,
            sampling_ratio_i=sampling_ratio,
            spatial_scale_f=spatial_scale,
        )


def roi_align(
    feats: Tensor,
    boxes: Tensor,
    batch_inds: Tensor,
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int,
) -> Tensor:
    """mmcv's ``roi_align(..., aligned=True)``: ``feats [B, C, H, W]``,
    ``boxes [n, 4]`` in image pixels, ``batch_inds [n]`` (int64) ->
    ``[n, C, output_size, output_size]``; in ONNX an opset-16 ``RoiAlign``
    (``half_pixel``).

    ``sampling_ratio=0`` (adaptive, mmdet's RoI extractors) is exported as
    is: onnxruntime's CPU kernel for ``half_pixel`` is mmcv's CPU kernel
    (both Caffe2's: corners ``x * scale - 0.5``, no minimum size, a
    ``ceil(roi_size / output_size)`` grid of bilinear samples per bin, the
    mean over at least 1 sample). A box of zero width or height has an empty
    grid: mmcv and onnxruntime give 0, OpenVINO 0 / 0 (NaN), so adaptive
    RoIs of zero size are set to 0 in the graph (in PyTorch they are 0
    already).
    """
    out = _RoIAlign.apply(
        feats,
        boxes,
        batch_inds.long(),
        int(output_size),
        float(spatial_scale),
        int(sampling_ratio),
    )
    if sampling_ratio > 0:
        return out
    # the kernels' roi_end - roi_start, in the feature map's pixels
    size = (boxes[:, 2:] * spatial_scale - 0.5) - (
        boxes[:, :2] * spatial_scale - 0.5
    )
    empty = (size <= 0).any(dim=1)[:, None, None, None]
    return torch.where(empty, out.new_zeros(()), out)
