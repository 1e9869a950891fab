"""BlendMaskHead: positives bookkeeping, attention layout, inference
threshold on cls * ctr."""
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
        num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
        strides=[8, 16], regress_ranges=((-1, 64), (64, 1e8)),
        norm_cfg=GN, center_sampling=True, norm_on_bbox=True,
        centerness_on_reg=True,
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        test_cfg=ConfigDict(nms_pre=1000, score_thr=0.05, min_bbox_size=0,
                            nms=dict(type='nms', iou_threshold=0.6),
                            max_per_img=100), **kw)
    head.init_weights()
    return head


def feats():
    return (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4))


def gts():
    a = InstanceData(bboxes=torch.tensor([[4., 4., 40., 36.],
                                          [30., 20., 60., 60.]]),
                     labels=torch.tensor([0, 2]))
    b = InstanceData(bboxes=torch.zeros(0, 4),
                     labels=torch.zeros(0, dtype=torch.long))
    return [a, b]


def metas():
    return [dict(img_shape=(64, 64), pad_shape=(64, 64),
                 batch_input_shape=(64, 64), scale_factor=(1., 1.))] * 2


def test_top_layer_and_attention_layout():
    head = make_head()
    assert head.top_layer.out_channels == 18
    assert head.top_layer.weight.std() < 0.02  # std 0.01 init
    cls, box, ctr, attn = head(feats())
    assert [a.shape for a in attn] == [(2, 18, 8, 8), (2, 18, 4, 4)]
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
    assert ((a.centerness_targets > 0) & (a.centerness_targets <= 1)).all()
    # attention of a positive = the top layer's output at its location
    attn = outs[3]
    n0 = 8 * 8
    for p, idx in zip(a.pos_inds.tolist(), range(len(a))):
        lvl, k = (0, p) if p < n0 else (1, p - n0)
        hw = attn[lvl].shape[-1]
        torch.testing.assert_close(a.attns[idx],
                                   attn[lvl][0, :, k // hw, k % hw])


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
    attentions, losses and gradients as the dense conv."""
    head = make_head()
    x = tuple(f.requires_grad_() for f in feats())
    # dense reference: forward + loss_by_feat, the inherited path
    dense_losses = head.loss_by_feat(*head(x), gts(), metas())
    dense = head.get_positive_infos()
    assert 'tower_feats' not in head._raw_positive_infos
    (sum(i.attns.square().sum() for i in dense) +
     sum(dense_losses.values())).backward()
    ref = {n: p.grad.clone() for n, p in head.named_parameters()
           if p.grad is not None}
    ref_x = [f.grad.clone() for f in x]
    head.zero_grad()
    for f in x:
        f.grad = None
    sparse_losses = head.loss(x, samples_with(gts()))
    assert not head._sparse_top_layer
    assert 'tower_feats' in head._raw_positive_infos
    sparse = head.get_positive_infos()
    for d, s in zip(dense, sparse):
        assert torch.equal(d.pos_inds, s.pos_inds)
        torch.testing.assert_close(s.attns, d.attns, rtol=1e-4, atol=1e-5)
    for k in dense_losses:
        torch.testing.assert_close(sparse_losses[k], dense_losses[k])
    (sum(i.attns.square().sum() for i in sparse) +
     sum(sparse_losses.values())).backward()
    assert set(ref) == {n for n, p in head.named_parameters()
                        if p.grad is not None}
    for n, p in head.named_parameters():
        if n in ref:
            torch.testing.assert_close(p.grad, ref[n], rtol=1e-4, atol=1e-5,
                                       msg=n)
    for f, g in zip(x, ref_x):
        torch.testing.assert_close(f.grad, g, rtol=1e-4, atol=1e-5)
    # a later direct loss_by_feat call goes back to its dense attentions
    head.loss_by_feat(*head(x), gts(), metas())
    assert 'tower_feats' not in head._raw_positive_infos


def test_sparse_loss_without_positives_keeps_top_layer_in_graph():
    """No GT anywhere: empty attentions that still reach the top layer, so
    DDP (find_unused_parameters=False) sees a gradient for it."""
    head = make_head()
    empty = InstanceData(bboxes=torch.zeros(0, 4),
                         labels=torch.zeros(0, dtype=torch.long))
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
    assert outs[3][0].shape == (2, 0, 8, 8)
    head.loss_by_feat(*outs, gts(), metas())
    assert head.get_positive_infos()[0].attns.shape[1] == 0


def test_threshold_applies_to_cls_times_ctr():
    """A location with cls 0.9 but ctr 0.01 (product 0.009) is dropped; one
    with cls 0.3 and ctr 0.5 (0.15) is kept, scored sqrt(0.15)."""
    head = make_head().eval()
    logit = lambda p: torch.log(torch.tensor(p) / (1 - torch.tensor(p)))
    cls = [torch.full((1, 3, 8, 8), -20.0), torch.full((1, 3, 4, 4), -20.0)]
    ctr = [torch.full((1, 1, 8, 8), -20.0), torch.full((1, 1, 4, 4), -20.0)]
    cls[0][0, 1, 2, 2], ctr[0][0, 0, 2, 2] = logit(0.9), logit(0.01)
    cls[0][0, 0, 5, 5], ctr[0][0, 0, 5, 5] = logit(0.3), logit(0.5)
    box = [torch.full((1, 4, 8, 8), 8.0), torch.full((1, 4, 4, 4), 16.0)]
    attn = [torch.randn(1, 18, 8, 8), torch.randn(1, 18, 4, 4)]
    res = head.predict_by_feat(cls, box, ctr, attn,
                               batch_img_metas=metas()[:1])[0]
    assert len(res) == 1
    assert res.labels.tolist() == [0]
    torch.testing.assert_close(res.scores, torch.tensor([0.15]).sqrt())
    torch.testing.assert_close(res.attns[0], attn[0][0, :, 5, 5])


def test_feat_indices_select_levels():
    head = make_head(feat_indices=(1, 2))
    p2 = torch.randn(2, 8, 16, 16)
    outs = head((p2, ) + feats())
    assert outs[0][0].shape[-1] == 8
    with pytest.raises(ValueError, match='feat_indices'):
        make_head()((p2, ) + feats())


def test_predict_runs_top_layer_only_at_detections():
    """predict() evaluates the top layer at the kept detections only; the
    result equals the dense conv at those locations."""
    head = make_head().eval()
    x = feats()
    metas_ = [dict(m, img_shape=(64, 64)) for m in metas()]
    samples = []
    from mmdet.structures import DetDataSample
    for m in metas_:
        samples.append(DetDataSample(metainfo=m))
    head.test_cfg.score_thr = 0.0
    with torch.no_grad():
        dense = head.predict_by_feat(*head(x), batch_img_metas=metas_)
        sparse = head.predict(x, samples)
    assert not head._sparse_top_layer
    for d, s in zip(dense, sparse):
        assert len(s) > 0
        torch.testing.assert_close(s.bboxes, d.bboxes)
        torch.testing.assert_close(s.scores, d.scores)
        torch.testing.assert_close(s.attns, d.attns, rtol=1e-4, atol=1e-5)
        assert 'attn_levels' not in s
