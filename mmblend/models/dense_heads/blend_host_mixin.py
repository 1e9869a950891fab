"""BlendMask's top layer as an add-on to any mmdet dense detection head.

The paper (§4.3) calls the top layer "an almost free add-on to most modern
object detectors": one 3x3 conv on the box tower predicting ``K*M*M``
attentions per location. :class:`BlendHostMixin` adds it to an mmdet dense
head (the *host*) without touching the host's forward, targets, losses or
post-processing:

* :meth:`~BlendHostMixin.forward` returns the per-level box-tower features
  (the input of the host's box regression conv(s),
  :attr:`~BlendHostMixin.box_tower_consumer`) followed by the host's own
  outputs;
* in training the host's own assignment decides the positives, recorded
  where it decides them (:mod:`.selection`);
  :meth:`~BlendHostMixin.get_positive_infos` evaluates the top layer there
  only (``attns``), with the matched GT index and the mask-loss weight;
* at inference the host's own post-processing runs unchanged; the rows its
  candidate selection keeps are recorded as it runs and travel with the
  candidates through its NMS (``prior_inds``), and the top layer runs at the
  final detections only.

Positives come from one of two sources, each a small mixin:
:class:`SamplerPositivesMixin` (the host's sampler: anchor heads, ATSS,
GFL, TOOD, RTMDet, YOLOX) and :class:`PointPositivesMixin` (FCOS-style point
targets, with the matched GT index kept as in mmdet's CondInst).
"""

from inspect import signature
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.dense_heads import CondInstBboxHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from .selection import (
    RecordingSampler,
    SelectionRecord,
    current_record,
    record_selection,
    records_selection,
)


def centerness(ltrb: Tensor) -> Tensor:
    """FCOS centerness ``sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))`` of
    ``[P, 4]`` distances (any common scale); 0 for a point outside its box
    (negative distances), never NaN. Returns ``[P]``."""
    ltrb = ltrb.clamp(min=0)
    lr, tb = ltrb[:, [0, 2]], ltrb[:, [1, 3]]
    ratio = (lr.min(-1)[0] / lr.max(-1)[0].clamp(min=1e-12)) * (
        tb.min(-1)[0] / tb.max(-1)[0].clamp(min=1e-12)
    )
    return ratio.sqrt()


class BlendHostMixin:
    """Adds BlendMask's top layer to an mmdet dense head.

    Use it before the host class, after a positives source::

        class BlendATSSHead(SamplerPositivesMixin, BlendHostMixin, ATSSHead):
            box_tower_consumer = 'atss_reg'

    The top layer is initialised by the host's ``init_cfg`` (mmdet's dense
    heads: normal, std 0.01, for every ``Conv2d``).

    Detections are paired with their priors by recording the host's own
    selection (see :mod:`.selection`): every subclass's
    ``_predict_by_feat_single`` is given a ``filter_scores_and_topk`` that
    records the rows it keeps. A host whose ``predict_by_feat`` selects
    otherwise must override :meth:`selected_prior_inds`; otherwise it is
    refused when built.

    Args (besides the host's own):
        attn_channels (int): ``K*M*M`` channels of the top layer (0: none,
            e.g. the FCIS-like assembler). The
            :class:`~mmblend.models.BlendMask` detector fills it from its
            blender.

    Several anchors per location (RetinaNet's 9) share **one** attention per
    location (the box tower is shared by them too; 9 x K*M*M channels would
    cost 16M parameters at 56_4_14). Scores are the host's own.
    """

    #: name of the host layer whose input is the box-tower output: one
    #: module shared by the levels, or a ``ModuleList`` with one per level
    box_tower_consumer = 'conv_reg'

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        single = getattr(cls, '_predict_by_feat_single', None)
        if single is not None and records_selection(single):
            cls._predict_by_feat_single = record_selection(single)

    def __init__(self, *args, attn_channels: int = 784, **kwargs) -> None:
        self.attn_channels = attn_channels
        super().__init__(*args, **kwargs)
        check_selection_is_recorded(type(self))
        tower_channels = self.box_tower_consumers()[0].in_channels
        self.top_layer = (
            nn.Conv2d(tower_channels, attn_channels, 3, padding=1)
            if attn_channels > 0
            else None
        )

    def box_tower_consumers(self) -> List[nn.Module]:
        """The host layer(s) whose input is the box tower, one per level or
        one shared."""
        consumer = getattr(self, self.box_tower_consumer)
        return (
            list(consumer)
            if isinstance(consumer, nn.ModuleList)
            else [consumer]
        )

    # forward: the box towers + the host's outputs --------------------------
    def forward(self, x: Tuple[Tensor]) -> tuple:
        """``(box_towers, *host_outputs)``: per level the box-tower output
        ``[B, C, Hl, Wl]``, the input of the top layer (dense attentions:
        ``self.top_layer(box_towers[l])``), then the host's per-level
        outputs (e.g. ``cls_scores, bbox_preds, centernesses``)."""
        box_towers = []

        def keep(module, args):
            box_towers.append(args[0])

        handles = [
            c.register_forward_pre_hook(keep)
            for c in self.box_tower_consumers()
        ]
        try:
            outs = super().forward(x)
        finally:
            for handle in handles:
                handle.remove()
        return (box_towers,) + tuple(outs)

    # positives -> attentions ------------------------------------------------
    def loss_by_feat(self, box_towers: List[Tensor], *args, **kwargs) -> dict:
        """The host's losses (``args``: the host's outputs and its
        ``loss_by_feat`` arguments); records its positives for
        :meth:`get_positive_infos`."""
        batch = signature(super().loss_by_feat).bind(*args, **kwargs)
        # the host is trained as a detector: GT boxes and labels, no masks
        # (RTMDet's assigner and CondInst's FCOS targets would otherwise
        # centre on the masks)
        batch.arguments['batch_gt_instances'] = [
            InstanceData(**{k: v for k, v in gt.items() if k != 'masks'})
            for gt in batch.arguments['batch_gt_instances']
        ]
        self.start_positives()
        losses = super().loss_by_feat(*batch.args, **batch.kwargs)
        self._raw_positive_infos = dict(
            box_towers=box_towers,
            positives=self.collect_positives(
                batch.arguments['batch_gt_instances'],
                batch.arguments['batch_img_metas'],
                box_towers,
            ),
        )
        return losses

    def start_positives(self) -> None:
        """Called before the host computes its targets (the positives
        source resets what it records)."""

    def collect_positives(
        self,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        box_towers: List[Tensor],
    ) -> InstanceList:
        """Per image ``InstanceData(pos_inds, pos_assigned_gt_inds,
        mask_weights)`` decided by the host's last targets (implemented by
        the positives source)."""
        raise NotImplementedError(
            f'{type(self).__name__} needs a positives source: '
            'SamplerPositivesMixin or PointPositivesMixin'
        )

    def get_positive_infos(self) -> InstanceList:
        """Positives of the last :meth:`loss` call, per image:

        * ``pos_inds [P]``: flat index over all levels in the host's prior
          order (the row of its flattened predictions);
        * ``pos_assigned_gt_inds [P]``: matched GT;
        * ``attns [P, K*M*M]``: the top layer at the positive's location;
        * ``mask_weights [P]``: weights of the mask loss (centerness targets
          where the host defines them, else 1).
        """
        raw = getattr(self, '_raw_positive_infos', {})
        if 'positives' not in raw:
            raise RuntimeError(
                'get_positive_infos() needs a loss() call first'
            )
        infos = []
        for i, pos in enumerate(raw['positives']):
            info = pos.clone()
            info.attns = self.attns_at(
                [t[i] for t in raw['box_towers']], pos.pos_inds
            )
            infos.append(info)
        return infos

    def attns_at(
        self, box_towers: Sequence[Tensor], prior_inds: Tensor
    ) -> Tensor:
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
            return box_towers[0].new_zeros((prior_inds.shape[0], 0))
        weight = self.top_layer.weight.flatten(1).t()  # [C*9, K*M*M]
        bias = self.top_layer.bias
        # sizes from .shape, not len(): traced, they stay dynamic in ONNX
        out = weight.new_zeros((prior_inds.shape[0], weight.size(1)))
        A = self.priors_per_location
        start = 0
        for tower in box_towers:
            h, w = tower.shape[-2:]
            in_level = (prior_inds >= start) & (prior_inds < start + h * w * A)
            sel = in_level.nonzero()[:, 0]  # (squeeze exports as an If)
            loc = (prior_inds[sel] - start) // A
            offsets = torch.arange(3, device=loc.device)
            ys = (loc // w)[:, None, None] + offsets[None, :, None]
            xs = (loc % w)[:, None, None] + offsets[None, None, :]
            padded = nn.functional.pad(tower, (1, 1, 1, 1))
            patches = padded[:, ys, xs].permute(1, 0, 2, 3).flatten(1)
            out = out.index_put((sel,), torch.addmm(bias, patches, weight))
            start += h * w * A
        if self.training and len(prior_inds) == 0:  # keep it in the graph
            out = out + (weight.sum() + bias.sum()) * 0  # (DDP)
        return out

    @property
    def priors_per_location(self) -> int:
        """Priors (anchors) per feature-map location: the rows of one
        location in the flattened predictions."""
        return getattr(self, 'num_base_priors', 1)

    # inference: the host's post-processing, carrying each detection's prior
    def predict_by_feat(
        self,
        box_towers: List[Tensor],
        *outs: List[Tensor],
        batch_img_metas: List[dict],
        cfg=None,
        **kwargs,
    ) -> InstanceList:
        """The host's detections with ``attns [D, K*M*M]`` of the kept ones:
        the rows the host's own selection keeps are recorded as it runs
        (:class:`~.selection.SelectionRecord`) and travel with the
        candidates through its NMS (``_bbox_post_process``)."""
        cfg = self.test_cfg if cfg is None else cfg
        with SelectionRecord(outs, cfg):
            results_list = super().predict_by_feat(
                *outs, batch_img_metas=batch_img_metas, cfg=cfg, **kwargs
            )
        for i, results in enumerate(results_list):
            results.attns = self.attns_at(
                [t[i] for t in box_towers], results.pop('prior_inds')
            )
        return results_list

    def score_cut(self, score_thr: float) -> Tuple[float, float]:
        """``(lo, hi)``: the reported scores a candidate exactly at
        ``score_thr`` can have (where another implementation may cut a
        detection differently). mmdet's hosts threshold a score that is
        reported as is or multiplied by a factor <= 1 (centerness, IoU):
        ``(0, score_thr)``."""
        return (0.0, float(score_thr))

    def selected_prior_inds(
        self, record: SelectionRecord, img_id: int
    ) -> Tuple[Tensor, Tensor]:
        """``(rows [N], labels [N])`` of image ``img_id``'s candidates, for a
        host whose ``predict_by_feat`` selects them without
        ``filter_scores_and_topk`` (``record.outs``: its raw outputs,
        ``record.cfg``: the test config)."""
        raise NotImplementedError

    def _bbox_post_process(
        self, results: InstanceData, *args, **kwargs
    ) -> InstanceData:
        """The host's NMS, carrying ``prior_inds`` with the candidates."""
        record = current_record()
        if record is not None:
            taken = record.take()
            if taken is None:
                taken = self.selected_prior_inds(record, record.image)
            record.image += 1
            rows, labels = taken
            if not torch.jit.is_tracing() and (
                len(rows) != len(results)
                or not torch.equal(labels, results.labels)
            ):
                raise RuntimeError(
                    f'{type(self).__name__}: the recorded candidates '
                    f'({len(rows)}) are not the ones post-processed '
                    f'({len(results)}): the '
                    'host selects its candidates differently, so its '
                    'detections cannot be paired with their attentions'
                )
            results.prior_inds = rows
        return super()._bbox_post_process(results, *args, **kwargs)


def check_selection_is_recorded(cls: type) -> None:
    """Raise ``TypeError`` unless ``cls``'s detections can be paired with
    their priors: its ``predict_by_feat`` runs ``_predict_by_feat_single``,
    which selects with ``filter_scores_and_topk``, or the class overrides
    :meth:`BlendHostMixin.selected_prior_inds`."""
    if cls.selected_prior_inds is not BlendHostMixin.selected_prior_inds:
        return
    mro = cls.__mro__
    host_predict = next(
        (
            k.__dict__['predict_by_feat']
            for k in mro[mro.index(BlendHostMixin) + 1 :]
            if 'predict_by_feat' in k.__dict__
        ),
        None,
    )
    calls_single = (
        host_predict is not None
        and '_predict_by_feat_single' in host_predict.__code__.co_names
    )
    if calls_single and records_selection(cls._predict_by_feat_single):
        return
    raise TypeError(
        f'{cls.__name__}: its host selects the candidates it post-processes '
        "without mmdet's filter_scores_and_topk (in _predict_by_feat_single), "
        'so its detections cannot be paired with their attentions; override '
        'selected_prior_inds() to give the rows it keeps'
    )


class SamplerPositivesMixin:
    """Positives of heads whose targets go through their sampler
    (``self.sampler.sample(assign_result, pred_instances, gt_instances)``
    once per image: AnchorHead, ATSS, GFL, TOOD in both its assigner phases,
    RTMDet, YOLOX, ...), recorded by wrapping the sampler
    (:class:`~.selection.RecordingSampler`).

    ``SamplingResult.pos_inds`` index the priors the sampler was given:
    anchor heads give the anchors inside the valid area
    (``flat_anchors[inside_flags]``), so in a batch of differently sized
    images they are shifted; they are mapped back to the rows of the
    flattened predictions with the host's own ``anchor_inside_flags`` and
    the anchors of its ``get_anchors``, and the mapping is checked (the
    priors must be exactly those rows). Hosts that give all priors (YOLOX)
    need no mapping.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self, 'sampler', None) is not None:
            self.sampler = RecordingSampler(self.sampler)
        self._anchors = None

    def get_anchors(self, *args, **kwargs) -> tuple:
        """The host's ``(anchor_list, valid_flag_list)``, kept for mapping
        the sampled priors back to rows."""
        anchors = super().get_anchors(*args, **kwargs)
        self._anchors = anchors
        return anchors

    def start_positives(self) -> None:
        if not isinstance(getattr(self, 'sampler', None), RecordingSampler):
            raise RuntimeError(
                f'{type(self).__name__} has no sampler to record its '
                'positives from (build it with a train_cfg)'
            )
        self.sampler.records.clear()
        self._anchors = None

    def collect_positives(
        self,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        box_towers: List[Tensor],
    ) -> InstanceList:
        num_rows = (
            sum(t.shape[-2] * t.shape[-1] for t in box_towers)
            * self.priors_per_location
        )
        positives = []
        for i, (gt, meta) in enumerate(
            zip(batch_gt_instances, batch_img_metas)
        ):
            record = self.sampler.records.get(id(gt))
            if record is None and len(gt) > 0:
                raise RuntimeError(
                    f'{type(self).__name__}: the host computed the targets of '
                    f'an image with {len(gt)} GT without its sampler, so its '
                    'positives were not recorded (a host must sample each '
                    "image's own gt_instances)"
                )
            if record is None:  # the host sampled nothing (no GT)
                empty = box_towers[0].new_zeros((0,), dtype=torch.long)
                positives.append(
                    InstanceData(
                        pos_inds=empty,
                        pos_assigned_gt_inds=empty,
                        mask_weights=box_towers[0].new_zeros((0,)),
                    )
                )
                continue
            result, priors = record
            rows = self.sampled_rows(i, meta, priors, num_rows)
            positives.append(
                InstanceData(
                    pos_inds=rows[result.pos_inds],
                    pos_assigned_gt_inds=result.pos_assigned_gt_inds,
                    mask_weights=self.mask_loss_weights(result),
                )
            )
        return positives

    def sampled_rows(
        self, img_id: int, img_meta: dict, priors: Tensor, num_rows: int
    ) -> Tensor:
        """``[N]`` rows of the flattened predictions of the ``N`` priors the
        sampler was given for image ``img_id``."""
        if len(priors) == num_rows:
            return torch.arange(num_rows, device=priors.device)
        if self._anchors is None:
            raise RuntimeError(
                f'{type(self).__name__} sampled {len(priors)} of {num_rows} '
                'priors without get_anchors(): cannot map them to rows'
            )
        # ATSS and TOOD concatenate the levels in place in get_targets
        flat, valid = (
            x if isinstance(x, Tensor) else torch.cat(x)
            for x in (a[img_id] for a in self._anchors)
        )
        inside = anchor_inside_flags(
            flat,
            valid,
            img_meta['img_shape'][:2],
            self.train_cfg['allowed_border'],
        )
        rows = inside.nonzero().squeeze(1)
        if not torch.equal(flat[rows], priors):
            raise RuntimeError(
                f'{type(self).__name__}: the priors given to the sampler are '
                'not the anchors inside the image: cannot map the positives '
                'to rows'
            )
        return rows

    def mask_loss_weights(self, sampling_result) -> Tensor:
        """``[P]`` mask-loss weights of the positives: uniform (hosts
        without a centerness target)."""
        return sampling_result.pos_priors.new_ones(
            (len(sampling_result.pos_inds),)
        )


class PointPositivesMixin:
    """Positives of FCOS-style point heads, with their matched GT.

    mmdet's ``FCOSHead`` drops the matched GT index; its CondInst variant
    (:class:`~mmdet.models.dense_heads.CondInstBboxHead`) computes the same
    targets and keeps it. It gets the GT boxes alone (as every host, see
    :meth:`BlendHostMixin.loss_by_feat`), so that centre sampling uses box
    centres as in FCOS (CondInst uses mask centroids when masks are given).
    Mask-loss weights are the centerness targets.
    """

    _get_targets_single = CondInstBboxHead._get_targets_single

    def get_targets(
        self, points: List[Tensor], batch_gt_instances: InstanceList
    ) -> tuple:
        labels, bbox_targets, pos_inds_list, pos_gt_inds_list = (
            CondInstBboxHead.get_targets(self, points, batch_gt_instances)
        )
        num_imgs = len(batch_gt_instances)
        flat_targets = torch.cat(
            [t.reshape(num_imgs, -1, 4) for t in bbox_targets], dim=1
        )
        self._point_positives = [
            InstanceData(
                pos_inds=pos_inds,
                pos_assigned_gt_inds=gt_inds,
                mask_weights=centerness(flat_targets[i][pos_inds]),
            )
            for i, (pos_inds, gt_inds) in enumerate(
                zip(pos_inds_list, pos_gt_inds_list)
            )
        ]
        return labels, bbox_targets

    def start_positives(self) -> None:
        self._point_positives = None

    def collect_positives(self, *args) -> InstanceList:
        return self._point_positives
