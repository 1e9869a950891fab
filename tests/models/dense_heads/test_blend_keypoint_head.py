"""BlendKeypointHead: Mask R-CNN's keypoint loss against a direct
computation on a tiny example (targets by hand), what is ignored, and the
decoding/rescaling of its predictions."""

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData

from mmblend.models.dense_heads import BlendKeypointHead

J, R = 5, 4
META = dict(
    batch_input_shape=(64, 64), img_shape=(64, 64), scale_factor=(0.5, 0.25)
)


def make_head(**kwargs):
    torch.manual_seed(0)
    return BlendKeypointHead(
        basis=dict(
            type='DeepLabV3PlusBasis',
            in_channels=8,
            in_indices=(0, 1),
            out_stride=8,
            channels=8,
            low_level_channels=8,
            num_bases=J * 2,
            norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        ),
        blender=dict(num_keypoints=J, attn_size=2, bottom_resolution=R),
        **kwargs,
    )


def gt_and_positives(head, v1=(2, 1, 0, 2, 2)):
    # two 32 x 32 boxes, R = 4: 8 px per cell
    kps0 = torch.tensor(
        [
            [12.0, 10.0, v1[0]],  # cell (0, 0) -> 0
            [39.0, 39.0, v1[1]],  # cell (3, 3) -> 15
            [30.0, 20.0, v1[2]],  # unlabelled
            [45.0, 20.0, v1[3]],  # outside the box
            [20.0, 33.0, v1[4]],  # cell (1, 3) -> 13
        ]
    )
    kps1 = torch.zeros(J, 3)  # a person without labelled keypoints
    gt = InstanceData(
        bboxes=torch.tensor(
            [[8.0, 8.0, 40.0, 40.0], [24.0, 16.0, 56.0, 48.0]]
        ),
        keypoints=torch.stack([kps0, kps1]),
        labels=torch.tensor([0, 0]),
    )
    attns = torch.randn(3, head.blender.attn_channels, requires_grad=True)
    info = InstanceData(
        pos_assigned_gt_inds=torch.tensor([0, 1, 0]), attns=attns
    )
    return gt, info


def test_loss_equals_a_direct_computation():
    head = make_head()
    bases = torch.randn(1, J * 2, 8, 8, requires_grad=True)
    gt, info = gt_and_positives(head)
    losses = head.loss_by_feat(bases, [gt], [META], [info])
    # direct: positives 0 and 2 (of GT 0), keypoints 0, 1, 4
    targets = {0: 0, 1: 15, 4: 13}
    rois = torch.tensor([[0.0, 8.0, 8.0, 40.0, 40.0]])
    logits = head.blender(bases, info.attns[[0, 2]], rois.repeat(2, 1))
    total = sum(
        -F.log_softmax(logits[p, j].flatten(), 0)[cell]
        for p in range(2)
        for j, cell in targets.items()
    )
    torch.testing.assert_close(losses['loss_keypoint'], total / 6)
    assert losses['keypoint_avg_factor'].item() == 6
    losses['loss_keypoint'].backward()
    g = info.attns.grad.abs().sum(dim=1)
    assert g[0] > 0 and g[2] > 0 and g[1] == 0  # GT 1 has no target


def test_loss_weight_and_max_proposals():
    head = make_head(loss_weight=2.0, max_proposals=1)
    bases = torch.randn(1, J * 2, 8, 8)
    gt, info = gt_and_positives(head)
    losses = head.loss_by_feat(bases, [gt], [META], [info])
    assert losses['keypoint_avg_factor'].item() == 3  # one positive of GT 0
    assert losses['loss_keypoint'] > 0


def test_no_labelled_keypoint_gives_a_finite_zero_in_the_graph():
    head = make_head()
    bases = torch.randn(1, J * 2, 8, 8, requires_grad=True)
    gt, info = gt_and_positives(head, v1=(0, 0, 0, 0, 0))
    loss = head.loss_by_feat(bases, [gt], [META], [info])['loss_keypoint']
    assert loss.item() == 0
    loss.backward()
    assert bases.grad is not None and info.attns.grad is not None


def test_missing_keypoints_are_reported():
    head = make_head()
    gt, info = gt_and_positives(head)
    del gt.keypoints
    with pytest.raises(KeyError, match='LoadAnnotationsWithKeypoints'):
        head.loss_by_feat(torch.randn(1, J * 2, 8, 8), [gt], [META], [info])


def test_predictions_are_rescaled_to_the_original_image():
    head = make_head().eval()
    bases = torch.randn(2, J * 2, 8, 8)
    results = [
        InstanceData(
            bboxes=torch.tensor(
                [[8.0, 8.0, 40.0, 40.0], [0.0, 0.0, 20.0, 60.0]]
            ),
            attns=torch.randn(2, head.blender.attn_channels),
        ),
        InstanceData(
            bboxes=torch.zeros(0, 4),
            attns=torch.zeros(0, head.blender.attn_channels),
        ),
    ]
    metas = [META, META]
    at_input = head.predict_by_feat(bases, results, metas, rescale=False)
    at_ori = head.predict_by_feat(bases, results, metas, rescale=True)
    assert at_input[0].keypoints.shape == (2, J, 2)
    assert at_input[0].keypoint_scores.shape == (2, J)
    assert at_input[1].keypoints.shape == (0, J, 2)
    torch.testing.assert_close(
        at_ori[0].keypoints, at_input[0].keypoints / torch.tensor([0.5, 0.25])
    )
    # keypoints lie in their boxes (input scale)
    kps = at_input[0].keypoints
    boxes = results[0].bboxes
    assert (
        (kps[..., 0] >= boxes[:, None, 0])
        & (kps[..., 0] <= boxes[:, None, 2])
        & (kps[..., 1] >= boxes[:, None, 1])
        & (kps[..., 1] <= boxes[:, None, 3])
    ).all()


def test_a_semantic_head_on_the_keypoint_bases_is_refused():
    with pytest.raises(ValueError, match='num_classes=None'):
        BlendKeypointHead(
            basis=dict(
                type='DeepLabV3PlusBasis',
                in_channels=8,
                in_indices=(0, 1),
                channels=8,
                low_level_channels=8,
                num_bases=J * 2,
                num_classes=1,
                sem_channels=8,
                norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
            ),
            blender=dict(num_keypoints=J),
        )
