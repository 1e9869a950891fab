"""The mixing mechanism on every host head (mmdet's ATSS, GFL, RetinaNet and
FCOS heads, built from mmdet's own configs, and our BlendMaskHead):
positives in a batch of differently sized images, attentions at positives
and detections, pairing of detections with their priors."""
import os.path as osp
import types

import mmdet
import pytest
import torch
from mmdet.models.dense_heads import FCOSHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData

MIM = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
HOSTS = {
    'BlendATSSHead': 'atss/atss_r50_fpn_1x_coco.py',
    'BlendGFLHead': 'gfl/gfl_r50_fpn_1x_coco.py',
    'BlendRetinaHead': 'retinanet/retinanet_r50_fpn_1x_coco.py',
    'BlendFCOSHead': 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'BlendMaskHead': osp.join(REPO, 'configs', '_base_', 'models',
                              'blendmask_r50_fpn.py'),
}
ANCHOR_HOSTS = ('BlendATSSHead', 'BlendGFLHead', 'BlendRetinaHead')
NUM_CLASSES = 3
# levels of a 64 x 64 batch input at strides 8..128
SIZES = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]


def make_head(name, attn_channels=2 * 3 * 3):
    cfg = Config.fromfile(osp.join(MIM, HOSTS[name]))
    head = dict(cfg.model.bbox_head, type=name, num_classes=NUM_CLASSES,
                in_channels=8, feat_channels=8, stacked_convs=1,
                norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
                attn_channels=attn_channels,
                train_cfg=cfg.model.get('train_cfg'),
                test_cfg=ConfigDict(cfg.model.test_cfg, score_thr=0.0))
    torch.manual_seed(0)
    head = MODELS.build(head)
    head.init_weights()
    return head


def feats():
    torch.manual_seed(1)
    return tuple(torch.randn(2, 8, h, w) for h, w in SIZES)


def samples(with_gt=True):
    """Two images of different aspect ratios (padded to 64 x 32 and 32 x 64
    by the divisor, 64 x 64 by the batch)."""
    shapes, pads = [(64, 24), (24, 64)], [(64, 32), (32, 64)]
    boxes = [torch.tensor([[2., 3., 22., 40.], [4., 34., 20., 62.]]),
             torch.tensor([[5., 2., 60., 22.]])]
    out = []
    for shape, pad, b in zip(shapes, pads, boxes):
        s = DetDataSample(metainfo=dict(
            img_shape=shape, pad_shape=pad, batch_input_shape=(64, 64),
            scale_factor=(1., 1.), ori_shape=shape))
        n = len(b) if with_gt else 0
        s.gt_instances = InstanceData(
            bboxes=b[:n], labels=torch.arange(n) % NUM_CLASSES)
        out.append(s)
    return out


def flat_priors(head):
    """``[N, 2|4]`` priors of one image over all levels, in row order."""
    return torch.cat(head.prior_generator.grid_priors(SIZES, device='cpu'))


@pytest.mark.parametrize('name', list(HOSTS))
def test_positives_in_a_mixed_size_batch(name, monkeypatch):
    """pos_inds are rows of the flattened predictions over all levels: the
    priors there are the assigner's positives (exactly the sampler's
    ``pos_priors`` for anchor heads, although the batch has invalid priors
    before them) and lie on their matched GT boxes."""
    head = make_head(name)
    batch = samples()
    recorded = []
    if name in ANCHOR_HOSTS:
        sample = head.sampler.sample
        head.sampler.sample = lambda *a, **k: recorded.append(
            sample(*a, **k)) or recorded[-1]
        _, valid = head.get_anchors(SIZES, [s.metainfo for s in batch],
                                     device='cpu')
        assert not torch.cat(valid[0]).all()  # invalid priors exist
    head.loss(feats(), batch)
    infos = head.get_positive_infos()
    priors = flat_priors(head)
    for i, (info, s) in enumerate(zip(infos, batch)):
        assert len(info) > 0
        pos = priors[info.pos_inds]
        gt = s.gt_instances.bboxes[info.pos_assigned_gt_inds]
        if name in ANCHOR_HOSTS:
            assert torch.equal(pos, recorded[i].pos_priors)
            assert torch.equal(info.pos_assigned_gt_inds,
                               recorded[i].pos_assigned_gt_inds)
            pos = (pos[:, :2] + pos[:, 2:]) / 2
        assert ((pos >= gt[:, :2]) & (pos <= gt[:, 2:])).all()
        w = info.mask_weights
        assert w.shape == (len(info), ) and torch.isfinite(w).all()
        assert ((w >= 0) & (w <= 1)).all()
        if name in ('BlendGFLHead', 'BlendRetinaHead'):
            assert (w == 1).all()
    if name in ('BlendFCOSHead', 'BlendMaskHead'):
        # the same positives as mmdet's own FCOS targets
        points = head.prior_generator.grid_priors(SIZES, device='cpu')
        monkeypatch.setattr(head, '_get_targets_single', types.MethodType(
            FCOSHead._get_targets_single, head))
        labels, _ = FCOSHead.get_targets(head, points, [
            s.gt_instances for s in batch])
        labels = torch.cat([lv.reshape(2, -1) for lv in labels], dim=1)
        for info, lab in zip(infos, labels):
            assert torch.equal(info.pos_inds,
                               (lab < NUM_CLASSES).nonzero().squeeze(1))


def dense_attn_rows(head, towers, img):
    """The top layer as a dense conv, one row per prior of image ``img``
    (the priors of a location share its attention)."""
    A = head.num_base_priors
    rows = [head.top_layer(t[img:img + 1])[0].flatten(1).t() for t in towers]
    return torch.cat([r.repeat_interleave(A, dim=0) for r in rows])


@pytest.mark.parametrize('name', list(HOSTS))
def test_attentions_at_positives_equal_the_dense_top_layer(name):
    head = make_head(name)
    x = tuple(f.requires_grad_() for f in feats())
    head.loss(x, samples())
    infos = head.get_positive_infos()
    towers = head._raw_positive_infos['box_towers']
    for i, info in enumerate(infos):
        dense = dense_attn_rows(head, towers, i)[info.pos_inds]
        torch.testing.assert_close(info.attns, dense, rtol=1e-5, atol=1e-6)
    sum(i.attns.sum() for i in infos).backward()
    assert head.top_layer.weight.grad.abs().sum() > 0
    assert all(f.grad is not None for f in x)


@pytest.mark.parametrize('name', list(HOSTS))
def test_image_without_gt_keeps_the_top_layer_in_the_graph(name):
    head = make_head(name)
    head.loss(feats(), samples(with_gt=False))
    infos = head.get_positive_infos()
    assert [i.attns.shape for i in infos] == [(0, 18), (0, 18)]
    sum(i.attns.sum() for i in infos).backward()
    assert head.top_layer.weight.grad is not None


def record_candidates(monkeypatch, head):
    """Record the keep indices of every ``filter_scores_and_topk`` call the
    host's own post-processing makes (per level, in call order)."""
    from mmdet.models.dense_heads import base_dense_head, gfl_head
    from mmdet.models.utils import filter_scores_and_topk

    import mmblend.models.dense_heads.blendmask_head as ours
    calls = []

    def recorder(scores, *args, **kwargs):
        out = filter_scores_and_topk(scores, *args, **kwargs)
        calls.append((scores.size(0), out[2]))
        return out

    for module in (base_dense_head, gfl_head, ours):
        monkeypatch.setattr(module, 'filter_scores_and_topk', recorder)
    return calls


@pytest.mark.parametrize('name', list(HOSTS))
def test_detections_carry_the_attention_of_their_prior(name, monkeypatch):
    """Each final detection's attention is the dense top layer at the prior
    the host's own post-processing kept it from."""
    head = make_head(name).eval()
    head.test_cfg.nms_pre = 20  # top-k per level really selects
    calls = record_candidates(monkeypatch, head)
    seen = []
    attns_at = head.attns_at
    monkeypatch.setattr(head, 'attns_at', lambda towers, inds: seen.append(
        inds) or attns_at(towers, inds))
    x = feats()
    with torch.no_grad():
        results = head.predict(x, samples())
        towers = head(x)[0]
    # every call of the host: its own keep indices, per level
    host = []
    for img in range(2):
        start, level_calls = 0, calls[img * 5:(img + 1) * 5]
        for n, keep in level_calls:
            host.append((img, keep + start))
            start += n
    for img, res in enumerate(results):
        assert len(res) > 0
        host_cands = torch.cat([k for i, k in host if i == img])
        # the detections' priors are among the host's candidates
        assert torch.isin(seen[img], host_cands).all()
        dense = dense_attn_rows(head, towers, img)[seen[img]]
        torch.testing.assert_close(res.attns, dense, rtol=1e-5, atol=1e-6)


def test_a_host_selecting_differently_is_refused(monkeypatch):
    """If a host's candidates do not match mmdet's selection on
    candidate_scores(), pairing stops with an error (never wrong attentions)."""
    head = make_head('BlendRetinaHead').eval()
    monkeypatch.setattr(head, 'candidate_scores',
                        lambda outs: -outs[0].permute(1, 2, 0).reshape(
                            -1, head.cls_out_channels))
    head.test_cfg.nms_pre = 5
    with pytest.raises(RuntimeError, match='candidate_scores'):
        with torch.no_grad():
            head.predict(feats(), samples())


def test_retina_anchors_share_their_location_attention():
    head = make_head('BlendRetinaHead')
    assert head.num_base_priors == 9
    towers = [torch.randn(8, h, w) for h, w in SIZES]
    inds = torch.tensor([0, 8, 9, 9 * 64 + 3])
    attns = head.attns_at(towers, inds)
    assert torch.equal(attns[0], attns[1])  # two anchors of location 0
    assert not torch.equal(attns[1], attns[2])
    dense = head.top_layer(towers[1][None])[0].flatten(1).t()
    torch.testing.assert_close(attns[3], dense[0], rtol=1e-5, atol=1e-6)
