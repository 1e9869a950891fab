"""BlendMask for panoptic segmentation (paper §4.4, Table 10)."""

import copy
from typing import List, Sequence, Tuple

from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from torch import Tensor

from .blendmask import BlendMask

# Fusion defaults (``test_cfg.panoptic``), on BlendMaskHead's score scale
# sqrt(sigmoid(cls) * sigmoid(ctr)):
#   instance_score_thr: 0.45 as in the reference code (AdelaiDet
#     configs/BlendMask/Panoptic/Base-Panoptic.yaml); the paper (§4.4)
#     states 0.2, which earlier revisions of that file used too;
#   mask_overlap: 0.4 (paper and AdelaiDet);
#   stuff_area_limit: 4096 px, Panoptic FPN's default.
DEFAULT_PANOPTIC_CFG = dict(
    instance_score_thr=0.45, mask_overlap=0.4, stuff_area_limit=4096
)


@MODELS.register_module()
class BlendMaskPanoptic(BlendMask):
    """BlendMask + Panoptic FPN's semantic branch, single stage.

    As in the paper (§4.4), the instance branch is BlendMask (FCOS +
    bases + blender) and the semantic branch is Panoptic FPN's
    (:class:`~mmdet.models.PanopticFPNHead`: the stuff classes plus one
    "things" class, at stride 4 from P2-P5). Instance and semantic results
    are combined with Panoptic FPN's heuristic
    (:class:`~mmdet.models.HeuristicFusionHead`).

    Feature routing (all by explicit index, see the configs): the FPN has
    P2..P7 (``start_level=0, num_outs=6``); the box head keeps FCOS on
    P3-P7 (``bbox_head.feat_indices=(1, 2, 3, 4, 5)``), the basis module
    reads e.g. P3+P5 (``in_indices=(1, 3)``), the semantic head P2-P5
    (``start_level=0, end_level=4``). The semantic head always reads the
    neck outputs, also when the basis module reads the backbone.

    Training: the BlendMask losses (``loss_cls``, ``loss_bbox``,
    ``loss_centerness``, ``loss_mask``, the basis module's auxiliary
    ``loss_sem`` if enabled) plus the semantic head's ``loss_seg`` on
    ``gt_sem_seg`` (from ``LoadPanopticAnnotations``; pad it with 255
    through ``DetDataPreprocessor(pad_seg=True, seg_pad_value=255)``).

    Inference (``test_cfg.panoptic``, defaults in ``DEFAULT_PANOPTIC_CFG``):

    * ``instance_score_thr`` (0.45): instances whose score is below it are
      dropped before fusion. The score is the one :class:`BlendMaskHead`
      reports, **sqrt(sigmoid(cls) * sigmoid(ctr))** (AdelaiDet's scale,
      on which both the paper's 0.2 and AdelaiDet's 0.45 are given).
      ``HeuristicFusionHead`` itself has no score threshold;
    * ``mask_overlap`` (0.4): in decreasing score order, an instance whose
      mask lies in already pasted instances by more than this fraction of
      its area is dropped, otherwise it fills its free pixels;
    * ``stuff_area_limit`` (4096): a stuff class covering fewer pixels
      (at the output resolution, after instances are pasted) becomes VOID;
      pixels where the semantic head predicts "things" but no instance
      was pasted are VOID too.

    Each predicted sample gets ``pred_panoptic_seg.sem_seg`` ``[1, H, W]``
    (``label + instance_id * INSTANCE_OFFSET`` for things, the label for
    stuff, ``num_classes`` for VOID) and ``pred_instances`` (all
    detections, before the fusion threshold, e.g. for instance AP).

    Args:
        semantic_head (dict): a ``PanopticFPNHead`` config.
        panoptic_fusion_head (dict): a ``HeuristicFusionHead`` config; its
            ``test_cfg`` is ``test_cfg.panoptic``.
        others: see :class:`BlendMask`.
    """

    def __init__(
        self,
        backbone: ConfigType,
        neck: OptConfigType,
        bbox_head: ConfigType,
        mask_head: ConfigType,
        semantic_head: ConfigType,
        panoptic_fusion_head: ConfigType = dict(type='HeuristicFusionHead'),
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        test_cfg = ConfigDict(copy.deepcopy(test_cfg or {}))
        panoptic_cfg = ConfigDict(DEFAULT_PANOPTIC_CFG)
        panoptic_cfg.update(test_cfg.get('panoptic', None) or {})
        test_cfg.panoptic = panoptic_cfg
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            mask_head=mask_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        self.semantic_head = MODELS.build(semantic_head)
        fusion = copy.deepcopy(panoptic_fusion_head)
        fusion.update(test_cfg=copy.deepcopy(panoptic_cfg))
        self.panoptic_fusion_head = MODELS.build(fusion)
        self.num_things_classes = self.panoptic_fusion_head.num_things_classes
        self.num_stuff_classes = self.panoptic_fusion_head.num_stuff_classes
        self.num_classes = self.panoptic_fusion_head.num_classes
        if self.num_things_classes != self.bbox_head.num_classes:
            raise ValueError(
                f'panoptic_fusion_head has {self.num_things_classes} thing '
                f'classes but bbox_head has {self.bbox_head.num_classes}'
            )
        for name in ('num_things_classes', 'num_stuff_classes'):
            value = getattr(self.semantic_head, name, None)
            if value is not None and value != getattr(self, name):
                raise ValueError(
                    f'semantic_head.{name}={value} but panoptic_fusion_head '
                    f'has {getattr(self, name)}'
                )

    @property
    def panoptic_cfg(self) -> ConfigDict:
        """``test_cfg.panoptic`` with the defaults filled in."""
        return self.test_cfg.panoptic

    def _check_semantic_input(
        self, x: Sequence[Tensor], batch_img_metas: List[dict]
    ) -> None:
        """The semantic head's first input must be at the stride its
        ``seg_rescale_factor`` assumes (4 for P2): with an FPN without P2
        the targets would be silently misaligned."""
        head = self.semantic_head
        start = getattr(head, 'start_level', None)
        factor = getattr(head, 'seg_rescale_factor', None)
        if start is None or factor is None:
            return
        if len(x) < getattr(head, 'end_level', 0):
            raise ValueError(
                f'semantic_head reads levels [{start}, {head.end_level}) but '
                f'the neck gives {len(x)}; use an FPN with P2 '
                '(start_level=0, num_outs=6)'
            )
        s = int(round(1 / factor))
        h = batch_img_metas[0]['batch_input_shape'][0]
        feat_h = x[start].size(-2)
        if abs(feat_h * s - h) >= s:
            raise ValueError(
                f'semantic_head expects its first input (level {start}) at '
                f'stride {s} but it is {feat_h} high for a {h}-high input; '
                'use an FPN with P2 (start_level=0, num_outs=6)'
            )

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList, **kwargs
    ) -> dict:
        if any('gt_sem_seg' not in s for s in batch_data_samples):
            raise ValueError(
                'BlendMaskPanoptic needs gt_sem_seg in every data sample: '
                'load it with LoadPanopticAnnotations (with_seg=True) and '
                'pad it with DetDataPreprocessor(pad_seg=True)'
            )
        # as mmdet's panoptic detectors: the instance heads (the wiring of
        # SingleStageInstanceSegmentor.loss) and the semantic head share the
        # features, so the backbone runs once
        x = self.extract_feat(batch_inputs)
        self._check_semantic_input(x, [s.metainfo for s in batch_data_samples])
        losses = self.bbox_head.loss(x, batch_data_samples, **kwargs)
        losses.update(
            self.mask_head.loss(
                x,
                batch_data_samples,
                positive_infos=self.bbox_head.get_positive_infos(),
                **kwargs,
            )
        )
        sem_losses = self.semantic_head.loss(x, batch_data_samples)
        clash = set(sem_losses) & set(losses)
        if clash:
            raise KeyError(
                f'semantic_head loss names {clash} clash with '
                'the instance losses'
            )
        losses.update(sem_losses)
        return losses

    def predict_semantic(
        self,
        x: Sequence[Tensor],
        batch_img_metas: List[dict],
        rescale: bool = True,
    ) -> List[Tensor]:
        """Semantic logits ``[num_stuff + 1, H, W]`` per image, at
        ``ori_shape`` (rescale) or ``img_shape`` (the instance masks' size
        either way)."""
        seg_preds = self.semantic_head.predict(
            x, batch_img_metas, rescale=rescale
        )
        if not rescale:
            seg_preds = [
                seg[:, : meta['img_shape'][0], : meta['img_shape'][1]]
                for seg, meta in zip(seg_preds, batch_img_metas)
            ]
        return seg_preds

    def fuse(
        self, results_list: InstanceList, seg_preds: List[Tensor]
    ) -> List[PixelData]:
        """Panoptic maps from instances (``bboxes``, ``labels``,
        ``scores`` on the sqrt(cls*ctr) scale, bool ``masks [N, H, W]``) and
        semantic logits ``[num_stuff + 1, H, W]``: drop instances scored
        below ``instance_score_thr``, then ``HeuristicFusionHead``
        (``mask_overlap``, ``stuff_area_limit``)."""
        thr = self.panoptic_cfg.instance_score_thr
        kept = [r[r.scores >= thr] for r in results_list]
        return self.panoptic_fusion_head.predict(kept, seg_preds)

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: bool = True,
        **kwargs,
    ) -> SampleList:
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        x = self.extract_feat(batch_inputs)
        self._check_semantic_input(x, batch_img_metas)
        results_list = self.mask_head.predict(
            x,
            batch_data_samples,
            rescale=rescale,
            results_list=self.bbox_head.predict(
                x, batch_data_samples, rescale=False
            ),
        )
        seg_preds = self.predict_semantic(x, batch_img_metas, rescale)
        pan_results = self.fuse(results_list, seg_preds)
        for sample, instances, pan in zip(
            batch_data_samples, results_list, pan_results
        ):
            sample.pred_instances = instances
            sample.pred_panoptic_seg = pan
        return batch_data_samples

    def _forward(
        self,
        batch_inputs: Tensor,
        batch_data_samples: OptSampleList = None,
        **kwargs,
    ) -> Tuple:
        """``(bbox_head outputs, (bases, sem_logits), seg_preds)`` without
        GT; ``seg_preds [B, num_stuff + 1, H/4, W/4]``."""
        x = self.extract_feat(batch_inputs)
        return (
            self.bbox_head.forward(x),
            self.mask_head.forward(x),
            self.semantic_head.forward(x)['seg_preds'],
        )
