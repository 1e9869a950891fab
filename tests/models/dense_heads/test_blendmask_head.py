"""BlendMaskHead: positives bookkeeping, attention layout, inference
threshold on cls * ctr. (Detections' attentions: test_blend_hosts.py.)"""

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmblend.models import BlendMaskHead

GN = dict(type='GN', num_groups=4, requires_grad=True)


def make_head(**kw):
    kw.setdefault('attn_channels', 2 * 3 * 3)
    torch.manual_seed(0)
    head = BlendMaskHead(
        num_classes=3,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        strides=[8, 16],
        regress_ranges=((-1, 64), (64, 1e8)),
        norm_cfg=GN,
        center_sampling=True,
        norm_on_bbox=True,
        centerness_on_reg=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        test_cfg=ConfigDict(
            nms_pre=1000,
            score_thr=0.05,
            min_bbox_size=0,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=100,
        ),
        **kw,
    )
    head.init_weights()
    return head


def feats():
    return (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))


def gts():
    a = InstanceData(
        bboxes=torch.tensor(
            [[4.0, 4.0, 40.0, 36.0], [30.0, 20.0, 60.0, 60.0]]
        ),
        labels=torch.tensor([0, 2]),
    )
    b = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)
    )
    return [a, b]


def metas():
    return [
        dict(
            img_shape=(64, 64),
            pad_shape=(64, 64),
            batch_input_shape=(64, 64),
            scale_factor=(1.0, 1.0),
        )
    ] * 2


def dense_attns(head, towers):
    """The top layer as a dense conv over every level's box tower."""
    return [head.top_layer(t) for t in towers]


def test_top_layer_and_attention_layout():
    head = make_head()
    assert head.top_layer.out_channels == 18
    assert head.top_layer.weight.std() < 0.02  # std 0.01 init
    towers, cls, box, ctr = head(feats())
    assert [a.shape for a in dense_attns(head, towers)] == [
        (2, 18, 8, 8),
        (2, 18, 4, 4),
    ]
    assert len(cls) == len(box) == len(ctr) == 2


def test_positive_infos():
    head = make_head()
    outs = head(feats())
    losses = head.loss_by_feat(*outs, gts(), metas())
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness'}
    infos = head.get_positive_infos()
    a, b = infos
    assert len(a) > 0 and len(b) == 0
    assert set(a.pos_assigned_gt_inds.tolist()) <= {0, 1}
    assert ((a.mask_weights > 0) & (a.mask_weights <= 1)).all()
    # attention of a positive = the top layer's output at its location
    attn = dense_attns(head, outs[0])
    n0 = 8 * 8
    for p, idx in zip(a.pos_inds.tolist(), range(len(a))):
        lvl, k = (0, p) if p < n0 else (1, p - n0)
        hw = attn[lvl].shape[-1]
        torch.testing.assert_close(
            a.attns[idx], attn[lvl][0, :, k // hw, k % hw]
        )


def samples_with(gt_list):
    from mmdet.structures import DetDataSample

    out = []
    for m, gt in zip(metas(), gt_list):
        s = DetDataSample(metainfo=m)
        s.gt_instances = gt
        out.append(s)
    return out


def test_loss_runs_top_layer_only_at_positives():
    """loss() evaluates the top layer at the FCOS positives only: the same
    attentions and gradients as the dense conv gathered there."""
    head = make_head()
    x = tuple(f.requires_grad_() for f in feats())
    head.loss(x, samples_with(gts()))
    sparse = head.get_positive_infos()
    towers = head._raw_positive_infos['box_towers']
    dense = dense_attns(head, towers)
    flat = torch.cat([a.flatten(2) for a in dense], dim=2)  # [B, KMM, N]
    gathered = [flat[i][:, info.pos_inds].t() for i, info in enumerate(sparse)]
    for s, d in zip(sparse, gathered):
        torch.testing.assert_close(s.attns, d, rtol=1e-5, atol=1e-6)

    def grads(attns):
        head.zero_grad()
        for f in x:
            f.grad = None
        sum(a.square().sum() for a in attns).backward(retain_graph=True)
        return [p.grad.clone() for p in head.top_layer.parameters()] + [
            f.grad.clone() for f in x
        ]

    for g_sparse, g_dense in zip(
        grads([i.attns for i in sparse]), grads(gathered)
    ):
        torch.testing.assert_close(g_sparse, g_dense, rtol=1e-4, atol=1e-6)


def test_sparse_loss_without_positives_keeps_top_layer_in_graph():
    """No GT anywhere: empty attentions that still reach the top layer, so
    DDP (find_unused_parameters=False) sees a gradient for it."""
    head = make_head()
    empty = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)
    )
    head.loss(feats(), samples_with([empty, empty.clone()]))
    infos = head.get_positive_infos()
    assert [i.attns.shape for i in infos] == [(0, 18), (0, 18)]
    sum(i.attns.sum() for i in infos).backward()
    assert head.top_layer.weight.grad is not None
    assert head.top_layer.bias.grad is not None


def test_no_top_layer_for_assembler():
    head = make_head(attn_channels=0)
    assert head.top_layer is None
    outs = head(feats())
    head.loss_by_feat(*outs, gts(), metas())
    info = head.get_positive_infos()[0]
    assert len(info) > 0 and info.attns.shape == (len(info), 0)


def test_threshold_applies_to_cls_times_ctr():
    """A location with cls 0.9 but ctr 0.01 (product 0.009) is dropped; one
    with cls 0.3 and ctr 0.5 (0.15) is kept, scored sqrt(0.15)."""
    head = make_head().eval()

    def logit(p):
        return torch.log(torch.tensor(p) / (1 - torch.tensor(p)))

    cls = [torch.full((1, 3, 8, 8), -20.0), torch.full((1, 3, 4, 4), -20.0)]
    ctr = [torch.full((1, 1, 8, 8), -20.0), torch.full((1, 1, 4, 4), -20.0)]
    cls[0][0, 1, 2, 2], ctr[0][0, 0, 2, 2] = logit(0.9), logit(0.01)
    cls[0][0, 0, 5, 5], ctr[0][0, 0, 5, 5] = logit(0.3), logit(0.5)
    box = [torch.full((1, 4, 8, 8), 8.0), torch.full((1, 4, 4, 4), 16.0)]
    towers = [torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)]
    with torch.no_grad():
        res = head.predict_by_feat(
            towers, cls, box, ctr, batch_img_metas=metas()[:1]
        )[0]
        attn = dense_attns(head, towers)
    assert len(res) == 1
    assert res.labels.tolist() == [0]
    torch.testing.assert_close(res.scores, torch.tensor([0.15]).sqrt())
    torch.testing.assert_close(res.attns[0], attn[0][0, :, 5, 5])


def test_feat_indices_select_levels():
    head = make_head(feat_indices=(1, 2))
    p2 = torch.randn(2, 8, 16, 16)
    towers, cls, *_ = head((p2,) + feats())
    assert cls[0].shape[-1] == towers[0].shape[-1] == 8
    with pytest.raises(ValueError, match='feat_indices'):
        make_head()((p2,) + feats())
