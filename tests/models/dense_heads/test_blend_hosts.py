"""The mixing mechanism on every host head (each supported host of the sweep
in mmblend.models.dense_heads.host_support, built from mmdet's own configs,
and our BlendMaskHead): positives in a batch of differently sized images
(equal to the host's own assignment), attentions at positives and
detections, pairing of detections with the priors the host's own selection
kept."""

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

from mmblend.models.dense_heads import host_support

MIM = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
HOSTS = {
    **{h.blend: h.config for h in host_support.HOSTS if h.blend and h.config},
    'BlendMaskHead': osp.join(
        REPO, 'configs', '_base_', 'models', 'blendmask_r50_fpn.py'
    ),
    'BlendRTMDetHead': 'rtmdet/rtmdet_s_8xb32-300e_coco.py',
}
POINT_HOSTS = ('BlendFCOSHead', 'BlendMaskHead', 'BlendNASFCOSHead')
NUM_CLASSES = 3
INPUT = 64  # the batch input is 64 x 64


def make_head(name, attn_channels=2 * 3 * 3):
    cfg = Config.fromfile(osp.join(MIM, HOSTS[name]))
    if name == 'BlendRTMDetHead':  # RTMDetSepBNHead's own arguments
        for key in ('share_conv', 'pred_kernel_size', 'exp_on_reg'):
            cfg.model.bbox_head.pop(key)
    head = dict(
        cfg.model.bbox_head,
        type=name,
        num_classes=NUM_CLASSES,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        attn_channels=attn_channels,
        train_cfg=cfg.model.get('train_cfg'),
        test_cfg=ConfigDict(cfg.model.test_cfg, score_thr=0.0),
    )
    if name == 'BlendYOLOFHead':  # its own tower depths
        head.pop('stacked_convs')
        head.update(num_cls_convs=1, num_reg_convs=1)
        # the 20-55 px boxes overlap its >= 32 px anchors less than the
        # pos_ignore_thr of 1333-px images
        head['train_cfg'].assigner.pos_ignore_thr = 0.0
    if name == 'BlendDDODHead':  # deformable convs need 3x3 maps (P7: 1x1)
        head.update(use_dcn=False)
    torch.manual_seed(0)
    head = MODELS.build(head)
    head.init_weights()
    return head


def sizes(head):
    """``(h, w)`` of each level of the 64 x 64 batch input."""
    return [
        (-(-INPUT // sh), -(-INPUT // sw))
        for sw, sh in head.prior_generator.strides
    ]


def feats(head):
    torch.manual_seed(1)
    return tuple(torch.randn(2, 8, h, w) for h, w in sizes(head))


@pytest.fixture(autouse=True)
def epoch_info():
    """TOOD reads the runner's epoch from the message hub (first epoch: its
    initial ATSS assignment)."""
    from mmengine.logging import MessageHub

    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 0)
    hub.runtime_info.pop('max_epochs', None)  # no runner's loop
    yield hub
    for key in ('epoch', 'max_epochs'):
        hub.runtime_info.pop(key, None)


def samples(with_gt=True):
    """Two images of different aspect ratios (padded to 64 x 32 and 32 x 64
    by the divisor, 64 x 64 by the batch)."""
    shapes, pads = [(64, 24), (24, 64)], [(64, 32), (32, 64)]
    boxes = [
        torch.tensor([[2.0, 3.0, 22.0, 40.0], [4.0, 34.0, 20.0, 62.0]]),
        torch.tensor([[5.0, 2.0, 60.0, 22.0]]),
    ]
    out = []
    for shape, pad, b in zip(shapes, pads, boxes):
        s = DetDataSample(
            metainfo=dict(
                img_shape=shape,
                pad_shape=pad,
                batch_input_shape=(64, 64),
                scale_factor=(1.0, 1.0),
                ori_shape=shape,
            )
        )
        n = len(b) if with_gt else 0
        s.gt_instances = InstanceData(
            bboxes=b[:n], labels=torch.arange(n) % NUM_CLASSES
        )
        out.append(s)
    return out


def flat_priors(head):
    """``[N, 2|4]`` priors of one image over all levels, in row order (with
    their strides for point generators: ``[x, y, sx, sy]``)."""
    from mmdet.models.task_modules.prior_generators import MlvlPointGenerator

    # VFNet assigns ATSS anchors at the points of its prior generator
    gen = getattr(head, 'atss_prior_generator', head.prior_generator)
    kwargs = (
        dict(with_stride=True) if isinstance(gen, MlvlPointGenerator) else {}
    )
    return torch.cat(gen.grid_priors(sizes(head), device='cpu', **kwargs))


def record_assignments(head, monkeypatch):
    """Wrap the assigners of the host that decide its positives: the priors
    each was given and its ``AssignResult``, per call (one per image), as the
    host computes them. DDOD: its regression assigner (the positives the
    mask loss uses)."""
    calls, seen = [], set()
    names = (
        ('reg_assigner',)
        if hasattr(head, 'reg_assigner')
        else ('assigner', 'initial_assigner', 'alignment_assigner')
    )
    for name in names:
        assigner = getattr(head, name, None)
        if assigner is None or id(assigner) in seen:  # TOOD: one is another
            continue
        seen.add(id(assigner))

        def assign(pred_instances, *args, _orig=assigner.assign, **kwargs):
            result = _orig(pred_instances, *args, **kwargs)
            calls.append((pred_instances.priors, result))
            return result

        monkeypatch.setattr(assigner, 'assign', assign)
    return calls


@pytest.mark.parametrize(
    'name,phase', [(name, 0) for name in HOSTS] + [('BlendTOODHead', 1)]
)
def test_positives_in_a_mixed_size_batch(name, phase, monkeypatch, epoch_info):
    """pos_inds are rows of the flattened predictions over all levels: the
    priors there are exactly those the host's own assigner made positive,
    matched to the same GT, although the batch has invalid priors before
    them (padding); FCOS-like hosts: mmdet's own FCOS targets. Phase 1 is
    TOOD's task-aligned assignment (after ``initial_epoch``)."""
    head = make_head(name)
    if phase == 1:
        epoch_info.update_info('epoch', head.initial_epoch)
    batch = samples()
    assigned = record_assignments(head, monkeypatch)
    head.loss(feats(head), batch)
    infos = head.get_positive_infos()
    priors = flat_priors(head)
    for i, (info, s) in enumerate(zip(infos, batch)):
        assert len(info) > 0
        pos = priors[info.pos_inds]
        gt = s.gt_instances.bboxes[info.pos_assigned_gt_inds]
        if name not in POINT_HOSTS:
            given, result = assigned[i]
            positive = result.gt_inds > 0
            if name == 'BlendYOLOXHead':  # SimOTA sees centred priors
                pos = torch.cat([pos[:, :2] + pos[:, 2:] * 0.5, pos[:, 2:]], 1)
            else:
                assert len(given) < len(priors)  # padding excluded
            assert torch.equal(pos, given[positive])
            assert torch.equal(
                info.pos_assigned_gt_inds, result.gt_inds[positive] - 1
            )
        if name not in POINT_HOSTS + (
            'BlendRTMDetHead',
            'BlendRTMDetSepBNHead',
            'BlendYOLOXHead',
        ):
            pos = (pos[:, :2] + pos[:, 2:]) / 2  # anchor boxes: centres
        w = info.mask_weights
        assert w.shape == (len(info),) and torch.isfinite(w).all()
        assert ((w >= 0) & (w <= 1)).all()
        if name in POINT_HOSTS + ('BlendATSSHead',):
            # centerness weights: positives lie on their GT box
            assert (
                (pos[:, :2] >= gt[:, :2]) & (pos[:, :2] <= gt[:, 2:])
            ).all()
        else:
            assert (w == 1).all()
    if name in POINT_HOSTS:
        # the same positives as mmdet's own FCOS targets
        points = head.prior_generator.grid_priors(sizes(head), device='cpu')
        monkeypatch.setattr(
            head,
            '_get_targets_single',
            types.MethodType(FCOSHead._get_targets_single, head),
        )
        labels, _ = FCOSHead.get_targets(
            head, points, [s.gt_instances for s in batch]
        )
        labels = torch.cat([lv.reshape(2, -1) for lv in labels], dim=1)
        for info, lab in zip(infos, labels):
            assert torch.equal(
                info.pos_inds, (lab < NUM_CLASSES).nonzero().squeeze(1)
            )


def dense_attn_rows(head, towers, img):
    """The top layer as a dense conv, one row per prior of image ``img``
    (the priors of a location share its attention)."""
    A = head.priors_per_location
    rows = [head.top_layer(t[img : img + 1])[0].flatten(1).t() for t in towers]
    return torch.cat([r.repeat_interleave(A, dim=0) for r in rows])


@pytest.mark.parametrize('name', list(HOSTS))
def test_attentions_at_positives_equal_the_dense_top_layer(name):
    head = make_head(name)
    x = tuple(f.requires_grad_() for f in feats(head))
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
    head.loss(feats(head), samples(with_gt=False))
    infos = head.get_positive_infos()
    assert [i.attns.shape for i in infos] == [(0, 18), (0, 18)]
    sum(i.attns.sum() for i in infos).backward()
    assert head.top_layer.weight.grad is not None


def record_candidates(monkeypatch):
    """The keep indices of every ``filter_scores_and_topk`` call the host's
    own post-processing makes (per level, in call order)."""
    from mmblend.models.dense_heads import selection

    calls = []
    orig = selection.filter_scores_and_topk

    def spy(scores, *args, **kwargs):
        out = orig(scores, *args, **kwargs)
        calls.append((scores.size(0), out[2]))
        return out

    monkeypatch.setattr(selection, 'filter_scores_and_topk', spy)
    return calls


@pytest.mark.parametrize('name', list(HOSTS))
def test_detections_carry_the_attention_of_their_prior(name, monkeypatch):
    """Each final detection's attention is the dense top layer at the prior
    the host's own post-processing kept it from (YOLOX: its box is the one
    YOLOX decoded at that prior)."""
    head = make_head(name).eval()
    head.test_cfg.nms_pre = 20  # top-k per level really selects
    calls = record_candidates(monkeypatch)
    seen = []
    attns_at = head.attns_at
    monkeypatch.setattr(
        head,
        'attns_at',
        lambda towers, inds: seen.append(inds) or attns_at(towers, inds),
    )
    x = feats(head)
    with torch.no_grad():
        results = head.predict(x, samples())
        outs = head(x)
    towers = outs[0]
    levels = len(towers)
    for img, res in enumerate(results):
        assert len(res) > 0
        dense = dense_attn_rows(head, towers, img)[seen[img]]
        torch.testing.assert_close(res.attns, dense, rtol=1e-5, atol=1e-6)
        if name == 'BlendYOLOXHead':
            assert not calls
            cls, reg, _ = outs[1:]
            flat = torch.cat(
                [r[img].permute(1, 2, 0).reshape(-1, 4) for r in reg]
            )
            priors = flat_priors(head)
            boxes = head._bbox_decode(priors, flat[None])[0]
            assert torch.equal(res.bboxes, boxes[seen[img]])
            continue
        # the detections' priors are among the host's own candidates
        start, host = 0, []
        for n, keep in calls[img * levels : (img + 1) * levels]:
            host.append(keep + start)
            start += n
        assert torch.isin(seen[img], torch.cat(host)).all()


def test_tood_refuses_a_loop_that_never_switches_assigners(epoch_info):
    """TOOD leaves ATSS after initial_epoch epochs of the runner: under an
    IterBasedTrainLoop (max_epochs=1 in the message hub, epoch 0 forever)
    or outside a runner the first loss stops with an error naming
    train_cfg; an epoch-based loop longer than initial_epoch trains."""
    head = make_head('BlendTOODHead')
    epoch_info.update_info('max_epochs', 1)
    with pytest.raises(RuntimeError, match='max_epochs=1 .*EpochBasedTrain'):
        head.loss(feats(head), samples())
    epoch_info.update_info('max_epochs', head.initial_epoch + 1)
    assert torch.isfinite(head.loss(feats(head), samples())['loss_cls'][0])
    epoch_info.runtime_info.pop('epoch')
    with pytest.raises(RuntimeError, match='no runner has set the epoch'):
        head.loss(feats(head), samples())


def test_candidates_that_do_not_match_stop_with_an_error(monkeypatch):
    """If the rows recorded were not the candidates post-processed (here the
    record is made to lose a level), pairing stops with an error instead of
    attaching wrong attentions."""
    from mmblend.models.dense_heads import selection

    head = make_head('BlendRetinaHead').eval()
    head.test_cfg.nms_pre = 5
    add_level = selection.SelectionRecord.add_level
    monkeypatch.setattr(
        selection.SelectionRecord,
        'add_level',
        lambda self, n, rows, labels: (
            None if n == 64 * 9 else add_level(self, n, rows, labels)
        ),
    )
    with pytest.raises(RuntimeError, match='cannot be paired'):
        with torch.no_grad():
            head.predict(feats(head), samples())


def test_retina_anchors_share_their_location_attention():
    head = make_head('BlendRetinaHead')
    assert head.num_base_priors == 9
    towers = [torch.randn(8, h, w) for h, w in sizes(head)]
    inds = torch.tensor([0, 8, 9, 9 * 64 + 3])
    attns = head.attns_at(towers, inds)
    assert torch.equal(attns[0], attns[1])  # two anchors of location 0
    assert not torch.equal(attns[1], attns[2])
    dense = head.top_layer(towers[1][None])[0].flatten(1).t()
    torch.testing.assert_close(attns[3], dense[0], rtol=1e-5, atol=1e-6)
