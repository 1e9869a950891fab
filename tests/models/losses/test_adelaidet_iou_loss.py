"""AdelaiDetIoULoss against AdelaiDet's formula on (l, t, r, b) distances
(``compute_ious`` in adet/utils/comm.py, ``IOULoss`` in
adet/layers/iou_loss.py), written here from their definitions."""

import pytest
import torch
from mmdet.models.losses import GIoULoss
from mmdet.registry import MODELS


def adelaidet_reference(pred, target, weight, loss_type):
    """AdelaiDet: areas from ltrb distances to one location, +1 smoothing."""
    pl, pt, pr, pb = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    t_area = (tl + tr) * (tt + tb)
    p_area = (pl + pr) * (pt + pb)
    w_i = torch.min(pl, tl) + torch.min(pr, tr)
    h_i = torch.min(pb, tb) + torch.min(pt, tt)
    g_w = torch.max(pl, tl) + torch.max(pr, tr)
    g_h = torch.max(pb, tb) + torch.max(pt, tt)
    ac = g_w * g_h
    inter = w_i * h_i
    union = t_area + p_area - inter
    ious = (inter + 1.0) / (union + 1.0)
    gious = ious - (ac - union) / ac
    losses = {
        'iou': -torch.log(ious),
        'linear_iou': 1 - ious,
        'giou': 1 - gious,
    }[loss_type]
    return (losses * weight).sum()


def to_boxes(points, ltrb):
    """mmdet's FCOS decoding (DistancePointBBoxCoder) of ltrb at points."""
    return torch.stack(
        [
            points[:, 0] - ltrb[:, 0],
            points[:, 1] - ltrb[:, 1],
            points[:, 0] + ltrb[:, 2],
            points[:, 1] + ltrb[:, 3],
        ],
        dim=1,
    )


@pytest.mark.parametrize('loss_type', ['giou', 'iou', 'linear_iou'])
def test_matches_adelaidet_on_stride_normalised_boxes(loss_type):
    g = torch.Generator().manual_seed(0)
    n = 50
    # FCOS positives: non-negative distances in units of the stride
    target = torch.rand(n, 4, generator=g, dtype=torch.float64) * 6 + 0.2
    pred = torch.relu(
        target + torch.randn(n, 4, generator=g, dtype=torch.float64)
    )
    points = torch.rand(n, 2, generator=g, dtype=torch.float64) * 800
    weight = torch.rand(n, generator=g, dtype=torch.float64)
    denorm = float(weight.sum())
    loss = MODELS.build(dict(type='AdelaiDetIoULoss', loss_type=loss_type))
    got = loss(
        to_boxes(points, pred),
        to_boxes(points, target),
        weight=weight,
        avg_factor=denorm,
    )
    want = adelaidet_reference(pred, target, weight, loss_type) / denorm
    # mmdet's weight_reduce_loss divides by avg_factor + float32 eps
    torch.testing.assert_close(got, want, rtol=1e-7, atol=0)
    per_box = loss(
        to_boxes(points, pred),
        to_boxes(points, target),
        reduction_override='none',
    )
    torch.testing.assert_close(
        (per_box * weight).sum(),
        adelaidet_reference(pred, target, weight, loss_type),
        rtol=1e-12,
        atol=0,
    )
    if loss_type == 'giou':
        # mmdet's GIoU (no +1) is a different loss on these small boxes
        mmdet = GIoULoss()(
            to_boxes(points, pred),
            to_boxes(points, target),
            weight=weight,
            avg_factor=denorm,
        )
        assert abs(float(mmdet) - float(got)) > 1e-3


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="loss_type.*'diou'"):
        MODELS.build(dict(type='AdelaiDetIoULoss', loss_type='diou'))
    loss = MODELS.build(dict(type='AdelaiDetIoULoss'))
    with pytest.raises(ValueError, match=r'\[N, 4\].*\[3, 5\]'):
        loss(torch.zeros(3, 5), torch.zeros(3, 5))
