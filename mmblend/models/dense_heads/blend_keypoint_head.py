"""BlendMask's keypoint branch: keypoint bases + per-keypoint blender +
Mask R-CNN's keypoint loss."""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, InstanceList, reduce_mean
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from ..layers.keypoint_blender import heatmaps_to_keypoints, keypoint_targets
from .blendmask_mask_head import BlendMaskMaskHead, build_basis_and_blender


@MODELS.register_module()
class BlendKeypointHead(BaseModule):
    """Keypoint branch of :class:`~mmblend.models.BlendMask`: for each
    instance and each of J keypoints an ``R x R`` heatmap over its box,
    blended from a bottom module's bases with the instance's attention
    (:class:`~mmblend.models.layers.KeypointBlender`).

    It is fed like the mask branch, by the host box head of the mixing
    mechanism (``BlendMaskHead``, ``BlendATSSHead``, ...): the detector
    widens the host's top layer by ``blender.attn_channels`` and gives this
    head its share of the attentions.

    Training: every positive uses its matched GT box; the targets are the
    GT keypoints discretised into that box's ``R x R`` grid (labelled,
    inside the box; :func:`~mmblend.models.layers.keypoint_targets`); the
    loss is Mask R-CNN's: cross-entropy of the spatial softmax over the
    ``R*R`` cells per target keypoint, summed and divided by the number of
    target keypoints (all-reduced across processes, as detectron2's
    ``normalize_by_visible_keypoints``). Keypoints with ``v == 0`` and
    positives of instances without labelled keypoints add nothing.

    Inference: the heatmaps of the final detections are decoded by
    :func:`~mmblend.models.layers.heatmaps_to_keypoints` (bicubic
    upsampling to the box's pixel size, maximum) into ``keypoints
    [D, J, 2]`` and ``keypoint_scores [D, J]`` (mmpose's names).

    Args:
        basis (dict): bottom module config (e.g. ``DeepLabV3PlusBasis``)
            with ``num_bases`` = the blender's need (J*K keypoint-specific
            bases, or K shared) and no semantic head (``num_classes=None``).
        blender (dict): :class:`~mmblend.models.layers.KeypointBlender`
            config (``num_keypoints``, ``shared_bases``,
            ``shared_attention``, ``attn_size``, ``bottom_resolution``);
            ``num_bases`` and ``bases_stride`` default to the basis
            module's.
        loss_weight (float): Defaults to 1.0 (detectron2).
        max_proposals (int): if > 0, at most this many (random) positives
            per batch for the loss, a memory knob (the crops of J*K bases
            are ``[P, J*K, R, R]``). -1 keeps all.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(
        self,
        basis: ConfigType,
        blender: ConfigType = dict(type='KeypointBlender'),
        loss_weight: float = 1.0,
        max_proposals: int = -1,
        init_cfg=None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        blender = dict(blender)
        blender.setdefault('type', 'KeypointBlender')
        self.basis, self.blender = build_basis_and_blender(basis, blender)
        if self.basis.num_classes is not None:
            raise ValueError(
                'BlendKeypointHead: the keypoint basis module has a semantic '
                'head (basis.num_classes is set) that nothing trains; set '
                'keypoint_head.basis.num_classes=None'
            )
        self.loss_weight = loss_weight
        self.max_proposals = max_proposals

    #: shape check of the bases against the input (the mask head's)
    _check_bases = BlendMaskMaskHead._check_bases

    @property
    def num_keypoints(self) -> int:
        return self.blender.num_keypoints

    def forward(self, x: Sequence[Tensor]) -> Tensor:
        """Keypoint bases ``[B, num_bases, H/s, W/s]``."""
        return self.basis(x)[0]

    def loss(
        self,
        x: Sequence[Tensor],
        batch_data_samples: SampleList,
        positive_infos: InstanceList,
    ) -> Dict[str, Tensor]:
        """Loss of a batch from the features and the host's positives
        (their ``attns`` cut to this head's channels)."""
        return self.loss_by_feat(
            self(x),
            [s.gt_instances for s in batch_data_samples],
            [s.metainfo for s in batch_data_samples],
            positive_infos,
        )

    def loss_by_feat(
        self,
        bases: Tensor,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        positive_infos: InstanceList,
    ) -> Dict[str, Tensor]:
        """Mask R-CNN's keypoint loss (see the class docstring).

        Args:
            bases: ``[B, num_bases, H/s, W/s]``.
            batch_gt_instances: per image ``bboxes [N, 4]`` and
                ``keypoints [N, J, 3]`` (x, y, v) at the input scale.
            batch_img_metas: per image meta (``batch_input_shape``).
            positive_infos: per image ``pos_assigned_gt_inds [P]`` and
                ``attns [P, attn_channels]``.

        Returns:
            ``loss_keypoint`` and the (logged, not optimised) number of
            target keypoints ``keypoint_avg_factor``.
        """
        self._check_bases(bases, batch_img_metas)
        J, R = self.num_keypoints, self.blender.bottom_resolution
        rois, index, valid, pos_gt, attns = [], [], [], [], []
        num_gts = 0
        for img_id, (gt, info) in enumerate(
            zip(batch_gt_instances, positive_infos)
        ):
            if 'keypoints' not in gt:
                raise KeyError(
                    'BlendKeypointHead needs gt_instances.keypoints: load '
                    'them with LoadAnnotationsWithKeypoints and pack them '
                    'with PackDetInputsWithKeypoints in the train pipeline '
                    '(dataset type CocoKeypointDataset)'
                )
            # targets in float32 (half precision rounds coordinates > 1024)
            kps = gt.keypoints.to(bases.device).float()
            if kps.shape[1:] != (J, 3):
                raise ValueError(
                    f'gt keypoints of shape {tuple(kps.shape)} for a head '
                    f'of num_keypoints={J}: set keypoint_head.blender.'
                    "num_keypoints to the dataset's"
                )
            boxes = gt.bboxes.float()
            rois.append(
                torch.cat([boxes.new_full((len(gt), 1), img_id), boxes], dim=1)
            )
            i, v = keypoint_targets(kps, boxes, R)
            index.append(i)
            valid.append(v)
            pos_gt.append(info.pos_assigned_gt_inds + num_gts)
            attns.append(info.attns)
            num_gts += len(gt)
        index, valid = torch.cat(index), torch.cat(valid)
        pos_gt, all_attns = torch.cat(pos_gt), torch.cat(attns)
        # only positives of instances with a target keypoint contribute
        keep = valid.any(dim=1)[pos_gt].nonzero().squeeze(1)
        if 0 < self.max_proposals < len(keep):
            keep = keep[
                torch.randperm(len(keep), device=keep.device)[
                    : self.max_proposals
                ]
            ]
        pos_gt, attns = pos_gt[keep], all_attns[keep]
        pos_valid = valid[pos_gt]
        # every rank divides by the same number (DDP averages gradients)
        denom = reduce_mean(pos_valid.sum().float()).clamp(min=1)
        if pos_valid.any():
            crops = self.blender.crop(bases, torch.cat(rois))[pos_gt]
            logits = self.blender.merge(crops, attns).flatten(2)
            loss = (
                F.cross_entropy(
                    logits[pos_valid].float(),
                    index[pos_gt][pos_valid],
                    reduction='sum',
                )
                / denom
            )
        else:
            # keep every parameter in the graph (DDP) with a zero loss
            loss = bases.sum() * 0 + all_attns.sum() * 0
        return dict(
            loss_keypoint=loss * self.loss_weight,
            keypoint_avg_factor=denom.detach(),
        )

    def predict(
        self,
        x: Sequence[Tensor],
        batch_data_samples: SampleList,
        results_list: InstanceList,
        rescale: bool = True,
    ) -> InstanceList:
        """Keypoints of the detections ``results_list`` (boxes at the input
        scale, ``attns`` cut to this head's channels)."""
        return self.predict_by_feat(
            self(x),
            results_list,
            [s.metainfo for s in batch_data_samples],
            rescale,
        )

    def predict_by_feat(
        self,
        bases: Tensor,
        results_list: InstanceList,
        batch_img_metas: List[dict],
        rescale: bool = True,
    ) -> InstanceList:
        """Decode the detections' heatmaps.

        Args:
            bases: ``[B, num_bases, H/s, W/s]``.
            results_list: per image ``bboxes [D, 4]`` (input scale) and
                ``attns [D, attn_channels]``.
            rescale: keypoints at the original image scale (``ori_shape``,
                divided by ``scale_factor``), else at the input scale.

        Returns:
            per image ``InstanceData`` with ``keypoints [D, J, 2]`` (x, y)
            and ``keypoint_scores [D, J]``.
        """
        self._check_bases(bases, batch_img_metas)
        rois = torch.cat(
            [
                torch.cat([r.bboxes.new_full((len(r), 1), i), r.bboxes], dim=1)
                for i, r in enumerate(results_list)
            ]
        )
        attns = torch.cat([r.attns for r in results_list])
        heatmaps = self.blender(bases, attns, rois).split(
            [len(r) for r in results_list]
        )
        out = []
        for results, maps, meta in zip(
            results_list, heatmaps, batch_img_metas
        ):
            keypoints, scores = heatmaps_to_keypoints(maps, results.bboxes)
            if rescale:
                keypoints = keypoints / keypoints.new_tensor(
                    meta['scale_factor']
                )
            out.append(
                InstanceData(keypoints=keypoints, keypoint_scores=scores)
            )
        return out
