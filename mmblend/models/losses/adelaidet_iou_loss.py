"""AdelaiDet's FCOS box loss: IoU with +1 smoothing
(``adet/layers/iou_loss.py`` and ``compute_ious`` in
``adet/utils/comm.py``)."""

from typing import Optional

import torch
import torch.nn as nn
from mmdet.models.losses.utils import weighted_loss
from mmdet.registry import MODELS
from torch import Tensor

LOSS_TYPES = ('iou', 'linear_iou', 'giou')


@weighted_loss
def adelaidet_iou_loss(
    pred: Tensor, target: Tensor, loss_type: str = 'giou', eps: float = 1e-7
) -> Tensor:
    """Per-box loss of AdelaiDet's ``IOULoss``.

    ``iou = (I + 1) / (U + 1)`` and ``giou = iou - (C - U) / C`` (``C``: area
    of the smallest enclosing box). The ``+1`` makes the loss depend on the
    boxes' scale, so it matches AdelaiDet only on boxes in the same units:
    mmdet's FCOS head with ``norm_on_bbox=True`` passes boxes whose sizes are
    in units of the level's stride, as AdelaiDet does.

    AdelaiDet computes the areas from ``(l, t, r, b)`` distances to a shared
    location; for two boxes that both contain that location (FCOS positives,
    ReLU'd predictions) these are the same numbers as the box intersection /
    union / enclosure computed here from corners.

    Args:
        pred: ``[N, 4]`` boxes ``(x1, y1, x2, y2)``.
        target: ``[N, 4]`` boxes, same units.
        loss_type: ``'iou'`` (``-log iou``), ``'linear_iou'`` (``1 - iou``)
            or ``'giou'`` (``1 - giou``, AdelaiDet's default
            ``FCOS.LOC_LOSS_TYPE``).
        eps: lower bound of ``C`` (AdelaiDet has none; ``C >= target area
            > 0`` for FCOS positives, so this only avoids 0/0 on degenerate
            inputs).

    Returns:
        Tensor: ``[N]`` losses.
    """
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_p = (pred[:, 2:] - pred[:, :2]).prod(dim=1)
    area_t = (target[:, 2:] - target[:, :2]).prod(dim=1)
    union = area_p + area_t - inter
    ious = (inter + 1.0) / (union + 1.0)
    if loss_type == 'iou':
        return -torch.log(ious)
    if loss_type == 'linear_iou':
        return 1 - ious
    enclose = (
        torch.max(pred[:, 2:], target[:, 2:])
        - torch.min(pred[:, :2], target[:, :2])
    ).prod(dim=1)
    enclose = enclose.clamp(min=eps)
    return 1 - (ious - (enclose - union) / enclose)


@MODELS.register_module()
class AdelaiDetIoULoss(nn.Module):
    """AdelaiDet's FCOS IoU loss, ``(I + 1) / (U + 1)``, as an mmdet loss.

    A drop-in for mmdet's ``GIoULoss`` in an FCOS head's ``loss_bbox``
    (same call: ``pred``/``target`` ``[N, 4]`` boxes, ``weight [N]``,
    ``avg_factor``); the weighted sum divided by ``avg_factor`` is
    AdelaiDet's ``loc_loss_func(ious, gious, ctrness_targets) /
    loss_denorm``.

    Args:
        loss_type (str): 'iou', 'linear_iou' or 'giou'. Defaults to 'giou'.
        eps (float): lower bound of the enclosing area. Defaults to 1e-7.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(
        self,
        loss_type: str = 'giou',
        eps: float = 1e-7,
        reduction: str = 'mean',
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if loss_type not in LOSS_TYPES:
            raise ValueError(
                f'AdelaiDetIoULoss: loss_type must be one of '
                f'{LOSS_TYPES}, got {loss_type!r}'
            )
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(
                "AdelaiDetIoULoss: reduction must be 'none', "
                f"'mean' or 'sum', got {reduction!r}"
            )
        self.loss_type = loss_type
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
        reduction_override: Optional[str] = None,
        **kwargs,
    ) -> Tensor:
        """Loss of ``[N, 4]`` boxes against ``[N, 4]`` targets; ``weight``
        ``[N]`` (or ``[N, 4]``, averaged over the last dim as mmdet's IoU
        losses do)."""
        if pred.dim() != 2 or pred.size(-1) != 4 or pred.shape != target.shape:
            raise ValueError(
                'AdelaiDetIoULoss: pred and target must both be '
                '[N, 4] boxes (x1, y1, x2, y2), got '
                f'{list(pred.shape)} and {list(target.shape)}'
            )
        reduction = reduction_override or self.reduction
        if weight is not None and weight.dim() > 1:
            weight = weight.mean(-1)
        return self.loss_weight * adelaidet_iou_loss(
            pred,
            target,
            weight,
            loss_type=self.loss_type,
            eps=self.eps,
            reduction=reduction,
            avg_factor=avg_factor,
        )
