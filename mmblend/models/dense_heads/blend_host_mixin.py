"""BlendMask's top layer as an add-on to any mmdet dense detection head.

The paper (§4.3) calls the top layer "an almost free add-on to most modern
object detectors": one 3x3 conv on the box tower predicting ``K*M*M``
attentions per location. :class:`BlendHostMixin` adds it to an mmdet dense
head (the *host*) without touching the host's forward, losses or
post-processing:

* :meth:`~BlendHostMixin.forward` returns the per-level box-tower features
  (read at the input of the host's box regression conv,
  :attr:`~BlendHostMixin.box_tower_consumer`) followed by the host's own
  outputs;
* in training the host's own target assignment records its positives;
  :meth:`~BlendHostMixin.get_positive_infos` evaluates the top layer there
  only (``attns``), with the matched GT index and the mask-loss weight;
* at inference the host's own post-processing runs unchanged; the prior
  each final detection came from is carried through it and the top layer is
  evaluated at those detections only (``attns`` of the results).

Positives come from one of two sources, each a small mixin:
:class:`AnchorPositivesMixin` (the sampler's results of anchor heads:
RetinaNet, ATSS, GFL) and :class:`PointPositivesMixin` (FCOS-style point
targets, with the matched GT index kept as in mmdet's CondInst).
"""
from inspect import signature
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.dense_heads import CondInstBboxHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.utils import filter_scores_and_topk
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

CANDIDATES = 'blend_candidates'  # img_meta key used inside predict_by_feat


def centerness(ltrb: Tensor) -> Tensor:
    """FCOS centerness ``sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))`` of
    ``[P, 4]`` distances (any common scale); 0 for a point outside its box
    (negative distances), never NaN. Returns ``[P]``."""
    ltrb = ltrb.clamp(min=0)
    lr, tb = ltrb[:, [0, 2]], ltrb[:, [1, 3]]
    ratio = (lr.min(-1)[0] / lr.max(-1)[0].clamp(min=1e-12)) * (
        tb.min(-1)[0] / tb.max(-1)[0].clamp(min=1e-12))
    return ratio.sqrt()


class BlendHostMixin:
    """Adds BlendMask's top layer to an mmdet dense head.

    Use it before the host class, together with a positives source::

        class BlendATSSHead(AnchorPositivesMixin, BlendHostMixin, ATSSHead):
            box_tower_consumer = 'atss_reg'

    The top layer is initialised by the host's ``init_cfg`` (mmdet's dense
    heads: normal, std 0.01, for every ``Conv2d``).

    Args (besides the host's own):
        attn_channels (int): ``K*M*M`` channels of the top layer (0: none,
            e.g. the FCIS-like assembler). The
            :class:`~mmblend.models.BlendMask` detector fills it from its
            blender.

    Several anchors per location (RetinaNet's 9) share **one** attention per
    location (the box tower is shared by them too; 9 x K*M*M channels would
    cost 16M parameters at 56_4_14). Scores are the host's own.
    """

    #: name of the host layer whose input is the box-tower output
    box_tower_consumer = 'conv_reg'

    def __init__(self, *args, attn_channels: int = 784, **kwargs) -> None:
        self.attn_channels = attn_channels
        super().__init__(*args, **kwargs)
        tower_channels = getattr(self, self.box_tower_consumer).in_channels
        self.top_layer = nn.Conv2d(
            tower_channels, attn_channels, 3,
            padding=1) if attn_channels > 0 else None

    # forward: the box towers + the host's outputs --------------------------
    def forward(self, x: Tuple[Tensor]) -> tuple:
        """``(box_towers, *host_outputs)``: per level the box-tower output
        ``[B, C, Hl, Wl]``, the input of the top layer (dense attentions:
        ``self.top_layer(box_towers[l])``), then the host's per-level
        outputs (e.g. ``cls_scores, bbox_preds, centernesses``)."""
        box_towers = []
        consumer = getattr(self, self.box_tower_consumer)
        handle = consumer.register_forward_pre_hook(
            lambda module, args: box_towers.append(args[0]))
        try:
            outs = super().forward(x)
        finally:
            handle.remove()
        return (box_towers, ) + tuple(outs)

    def loss_by_feat(self, box_towers: List[Tensor], *args, **kwargs) -> dict:
        """The host's losses (``args``: the host's outputs and its
        ``loss_by_feat`` arguments); keeps the box towers for
        :meth:`get_positive_infos`."""
        losses = super().loss_by_feat(*args, **kwargs)
        self._raw_positive_infos.update(box_towers=box_towers)
        return losses

    # positives -> attentions ------------------------------------------------
    def get_positive_infos(self) -> InstanceList:
        """Positives of the last :meth:`loss` call, per image:

        * ``pos_inds [P]``: flat index over all levels in the host's prior
          order (the row of its flattened predictions);
        * ``pos_assigned_gt_inds [P]``: matched GT;
        * ``attns [P, K*M*M]``: the top layer at the positive's location;
        * ``mask_weights [P]``: weights of the mask loss (centerness targets
          where the host defines them, else 1).
        """
        raw = self._raw_positive_infos
        if 'positives' not in raw or 'box_towers' not in raw:
            raise RuntimeError('get_positive_infos() needs a loss() call first')
        infos = []
        for i, pos in enumerate(raw['positives']):
            info = pos.clone()
            info.attns = self.attns_at([t[i] for t in raw['box_towers']],
                                       pos.pos_inds)
            infos.append(info)
        return infos

    def attns_at(self, box_towers: Sequence[Tensor],
                 prior_inds: Tensor) -> Tensor:
        """The top layer at given priors of one image.

        Args:
            box_towers: per level ``[C, Hl, Wl]``.
            prior_inds: ``[D]`` flat prior index over all levels (several
                priors per location share the location's attention).

        Returns:
            Tensor: ``[D, K*M*M]``, equal to ``top_layer(box_towers)`` at the
            priors' locations (``[D, 0]`` without a top layer).
        """
        if self.top_layer is None:
            return box_towers[0].new_zeros((len(prior_inds), 0))
        weight = self.top_layer.weight.flatten(1).t()  # [C*9, K*M*M]
        bias = self.top_layer.bias
        out = weight.new_zeros((len(prior_inds), weight.size(1)))
        A = self.num_base_priors
        start = 0
        for tower in box_towers:
            h, w = tower.shape[-2:]
            in_level = (prior_inds >= start) & (prior_inds < start + h * w * A)
            sel = in_level.nonzero().squeeze(1)
            loc = (prior_inds[sel] - start) // A
            ys = (loc // w)[:, None, None] + torch.arange(3, device=loc.device)[
                None, :, None]
            xs = (loc % w)[:, None, None] + torch.arange(3, device=loc.device)[
                None, None, :]
            padded = nn.functional.pad(tower, (1, 1, 1, 1))
            patches = padded[:, ys, xs].permute(1, 0, 2, 3).flatten(1)
            out = out.index_put((sel, ), torch.addmm(bias, patches, weight))
            start += h * w * A
        if len(prior_inds) == 0:  # keep the layer in the graph (DDP)
            out = out + (weight.sum() + bias.sum()) * 0
        return out

    # inference: the host's post-processing, carrying each detection's prior
    def predict_by_feat(self, box_towers: List[Tensor], *outs: List[Tensor],
                        batch_img_metas: List[dict], cfg=None,
                        **kwargs) -> InstanceList:
        """The host's detections with ``attns [D, K*M*M]`` of the kept ones.

        The prior of each candidate is found by running mmdet's candidate
        selection (``filter_scores_and_topk`` on :meth:`candidate_scores`)
        next to the host's and travels with the candidates through the
        host's NMS (``_bbox_post_process``); a host whose candidates differ
        raises an error instead of pairing wrong attentions.
        """
        cfg = self.test_cfg if cfg is None else cfg
        metas = [
            dict(meta, **{CANDIDATES: self.candidates(outs, i, cfg)})
            for i, meta in enumerate(batch_img_metas)
        ]
        results_list = super().predict_by_feat(
            *outs, batch_img_metas=metas, cfg=cfg, **kwargs)
        for i, results in enumerate(results_list):
            results.attns = self.attns_at([t[i] for t in box_towers],
                                          results.pop('prior_inds'))
        return results_list

    def score_cut(self, score_thr: float) -> Tuple[float, float]:
        """``(lo, hi)``: the reported scores a candidate exactly at
        ``score_thr`` can have (where a detection may be cut differently by
        another implementation). mmdet's hosts threshold a score that is
        reported as is or multiplied by a factor <= 1 (centerness, IoU):
        ``(0, score_thr)``."""
        return (0.0, float(score_thr))

    def candidate_scores(self, level_outs: Sequence[Tensor]) -> Tensor:
        """``[N, C]`` scores the host thresholds and ranks per level, from
        the level's outputs for one image (``cls [A*C, H, W]``, ...).
        mmdet's dense heads (BaseDenseHead, GFL): ``sigmoid(cls)`` or the
        softmax without background."""
        cls_score = level_outs[0].permute(1, 2, 0).reshape(
            -1, self.cls_out_channels)
        if self.use_sigmoid_cls:
            return cls_score.sigmoid()
        return cls_score.softmax(-1)[:, :-1]

    def candidates(self, outs: tuple, img_id: int, cfg) -> Tuple[Tensor,
                                                                 Tensor]:
        """(flat prior index ``[N]``, label ``[N]``) of one image's
        candidates, in the host's order."""
        inds, labels, start = [], [], 0
        for level_outs in zip(*outs):
            level_scores = self.candidate_scores(
                [o[img_id] for o in level_outs])
            _, level_labels, keep, _ = filter_scores_and_topk(
                level_scores, cfg.get('score_thr', 0),
                cfg.get('nms_pre', -1))
            inds.append(keep + start)
            labels.append(level_labels)
            start += level_scores.size(0)
        return torch.cat(inds), torch.cat(labels)

    def _bbox_post_process(self, results: InstanceData, *args,
                           img_meta: dict, **kwargs) -> InstanceData:
        """The host's NMS, carrying ``prior_inds`` with the candidates."""
        inds, labels = img_meta[CANDIDATES]
        if len(inds) != len(results) or not torch.equal(
                labels, results.labels):
            raise RuntimeError(
                f'{type(self).__name__}: the host selects its candidates '
                'differently from mmdet\'s filter_scores_and_topk on '
                'candidate_scores(); override candidate_scores() so that the '
                'detections can be paired with their attentions')
        results.prior_inds = inds
        return super()._bbox_post_process(
            results, *args, img_meta=img_meta, **kwargs)


class AnchorPositivesMixin:
    """Positives of anchor heads (AnchorHead, ATSS, GFL): the sampler's.

    ``SamplingResult.pos_inds`` index only the anchors inside the valid
    area (``flat_anchors[inside_flags]``), not the flat prediction row: in a
    batch of differently sized images they are shifted. They are mapped back
    here with the host's own ``anchor_inside_flags``.
    """

    def get_targets(self, *args, **kwargs) -> tuple:
        self._raw_positive_infos = dict(positives=[])
        return super().get_targets(*args, **kwargs)

    def _get_targets_single(self, *args, **kwargs) -> tuple:
        out = super()._get_targets_single(*args, **kwargs)
        bound = signature(super()._get_targets_single).bind(*args, **kwargs)
        a = bound.arguments
        inside = anchor_inside_flags(a['flat_anchors'], a['valid_flags'],
                                     a['img_meta']['img_shape'][:2],
                                     self.train_cfg['allowed_border'])
        sampling_result = out[-1]
        self._raw_positive_infos['positives'].append(InstanceData(
            pos_inds=inside.nonzero().squeeze(1)[sampling_result.pos_inds],
            pos_assigned_gt_inds=sampling_result.pos_assigned_gt_inds,
            mask_weights=self.mask_loss_weights(sampling_result)))
        return out

    def mask_loss_weights(self, sampling_result) -> Tensor:
        """``[P]`` mask-loss weights of the positives: uniform (hosts
        without a centerness target)."""
        return sampling_result.pos_priors.new_ones(
            (len(sampling_result.pos_inds), ))


class PointPositivesMixin:
    """Positives of FCOS-style point heads, with their matched GT.

    mmdet's ``FCOSHead`` drops the matched GT index; its CondInst variant
    (:class:`~mmdet.models.dense_heads.CondInstBboxHead`) computes the same
    targets and keeps it. Its assignment is used here on the boxes alone,
    so that centre sampling uses box centres as in FCOS (CondInst uses mask
    centroids when masks are given). Mask-loss weights are the centerness
    targets.
    """

    _get_targets_single = CondInstBboxHead._get_targets_single

    def get_targets(self, points: List[Tensor],
                    batch_gt_instances: InstanceList) -> tuple:
        boxes_only = [
            InstanceData(bboxes=gt.bboxes, labels=gt.labels)
            for gt in batch_gt_instances
        ]
        labels, bbox_targets, pos_inds_list, pos_gt_inds_list = \
            CondInstBboxHead.get_targets(self, points, boxes_only)
        num_imgs = len(batch_gt_instances)
        flat_targets = torch.cat(
            [t.reshape(num_imgs, -1, 4) for t in bbox_targets], dim=1)
        self._raw_positive_infos = dict(positives=[
            InstanceData(
                pos_inds=pos_inds,
                pos_assigned_gt_inds=gt_inds,
                mask_weights=centerness(flat_targets[i][pos_inds]))
            for i, (pos_inds, gt_inds) in enumerate(
                zip(pos_inds_list, pos_gt_inds_list))
        ])
        return labels, bbox_targets
