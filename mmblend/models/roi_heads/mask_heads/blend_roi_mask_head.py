"""The blender as a two-stage (Mask R-CNN) mask head (paper §4.3)."""

from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import FCNMaskHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from torch import Tensor

from ...dense_heads.blendmask_mask_head import build_basis_and_blender
from ...layers.resize import resize


@MODELS.register_module()
class BlendRoIMaskHead(FCNMaskHead):
    """Mask head of a two-stage detector made of BlendMask's bottom module
    and blender, for :class:`~mmblend.models.BlendRoIHead` and (one per
    stage) :class:`~mmblend.models.BlendCascadeRoIHead`, whose later stages
    drop their basis module (``basis`` None) and blend the first stage's
    bases.

    Per image, the basis module predicts ``K`` bases from the neck features
    the RoI head receives; per RoI, a small attention predictor turns the
    mask RoI features ``[n, C, S, S]`` (the ``mask_roi_extractor`` output)
    into ``K`` attention maps ``[n, K, M, M]``; the blender crops the bases to
    each RoI at ``R x R`` and merges them with the attentions into one
    class-agnostic mask logit map ``[n, 1, R, R]``, the shape of a
    class-agnostic :class:`FCNMaskHead`'s output. Mask targets
    (:meth:`get_targets`, ``rcnn.mask_size``), the loss (``loss_mask``) and
    pasting (:meth:`predict_by_feat`, thresholded at mmdet's
    ``rcnn.mask_thr_binary``) are FCNMaskHead's, unchanged.

    Attention predictor: ``attn_num_convs`` ``conv_kernel_size`` convs of
    ``attn_conv_channels`` channels (ReLU, ``norm_cfg``) on the ``S x S`` RoI
    features, then a 1x1 conv (``predictor_cfg``, FCNMaskHead's
    ``conv_logits``, here with ``K`` output channels) giving ``K`` maps at
    ``S x S``; they are average-pooled (``M < S``) or bilinearly resized
    (``M > S``) to ``M x M`` when ``M != S``. Defaults: 2 convs of 64
    channels at S = M = 14, about 36 MMACs per RoI, versus FCNMaskHead's
    4 x 256-channel convs + deconv (~530 MMACs per RoI); FCNMaskHead's own
    tower width would make this head as slow as the one it replaces.

    Arguments of :class:`FCNMaskHead` (an inherited Mask R-CNN config passes
    them):

    * used: ``in_channels`` (RoI feature channels), ``conv_kernel_size``,
      ``conv_cfg``, ``norm_cfg`` (attention predictor), ``predictor_cfg``
      (its last 1x1 conv), ``loss_mask`` (on the blended logits; mmdet's
      ``CrossEntropyLoss(use_mask=True)`` selects channel 0, the only one),
      ``num_classes`` (kept as an attribute; masks are class-agnostic);
    * must be True: ``class_agnostic`` (one blended mask per RoI; False
      raises);
    * ignored: ``num_convs``, ``conv_out_channels`` (the attention
      predictor's depth and width are ``attn_num_convs`` and
      ``attn_conv_channels``), ``upsample_cfg`` (the blender resizes the
      attentions from ``M`` to ``R``), ``roi_feat_size`` (reserved and
      unused in FCNMaskHead too; the RoI features' actual size is used).

    Args:
        basis (dict): bottom module config (``DeepLabV3PlusBasis`` or
            ``ProtoNetBasis``) with ``feat_source='neck'``; its
            ``in_indices`` index the neck outputs the RoI head receives
            (Mask R-CNN's FPN starts at P2: P3+P5 are ``(1, 3)``).
        blender (dict): :class:`~mmblend.models.layers.Blender` config;
            ``bases_stride`` and ``num_bases`` default to the basis module's
            and must equal them. ``bottom_resolution`` R must equal
            ``train_cfg.rcnn.mask_size`` (checked by ``BlendRoIHead``).
        attn_num_convs (int): convs of the attention predictor. Defaults
            to 2.
        attn_conv_channels (int): their width. Defaults to 64.
        **kwargs: FCNMaskHead's arguments, see above.
    """

    def __init__(
        self,
        basis: ConfigType,
        blender: ConfigType = dict(type='Blender'),
        attn_num_convs: int = 2,
        attn_conv_channels: int = 64,
        num_convs: int = 4,
        roi_feat_size: int = 14,
        in_channels: int = 256,
        conv_kernel_size: int = 3,
        conv_out_channels: int = 256,
        num_classes: int = 80,
        class_agnostic: bool = True,
        upsample_cfg: ConfigType = dict(type='deconv', scale_factor=2),
        conv_cfg: OptConfigType = None,
        norm_cfg: OptConfigType = None,
        predictor_cfg: ConfigType = dict(type='Conv'),
        loss_mask: ConfigType = dict(
            type='CrossEntropyLoss', use_mask=True, loss_weight=1.0
        ),
        init_cfg=None,
    ) -> None:
        if not class_agnostic:
            raise ValueError(
                'BlendRoIMaskHead predicts one class-agnostic mask per RoI '
                '(the blender merges K bases, not one map per class): '
                'class_agnostic must be True'
            )
        # FCNMaskHead's conv tower, built at the attention predictor's depth
        # and width, without upsampling (the blender resizes M -> R).
        super().__init__(
            num_convs=attn_num_convs,
            roi_feat_size=roi_feat_size,
            in_channels=in_channels,
            conv_kernel_size=conv_kernel_size,
            conv_out_channels=attn_conv_channels,
            num_classes=num_classes,
            class_agnostic=True,
            upsample_cfg=dict(type=None),
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            predictor_cfg=predictor_cfg,
            loss_mask=loss_mask,
            init_cfg=init_cfg,
        )
        self.basis, self.blender = build_basis_and_blender(basis, blender)
        if self.blender.attn_channels == 0:
            raise ValueError(
                "BlendRoIMaskHead predicts attentions; merge='assembler' "
                'uses none: use the blender merge'
            )
        # FCNMaskHead's 1x1 predictor gives one mask; here it gives the K
        # attention maps (initialised by FCNMaskHead.init_weights).
        self.conv_logits = build_conv_layer(
            predictor_cfg,
            attn_conv_channels if attn_num_convs > 0 else in_channels,
            self.blender.num_bases,
            1,
        )

    @property
    def mask_size(self) -> int:
        """R, the side of the predicted masks (= ``rcnn.mask_size``)."""
        return self.blender.bottom_resolution

    def forward_bases(
        self, feats: Sequence[Tensor], feat_strides: Sequence[int]
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Bases of the batch from the neck features.

        Args:
            feats: neck outputs ``[B, C, H/s_i, W/s_i]``.
            feat_strides: their strides ``s_i`` (only used to check the
                bases' stride and to explain a mismatch).

        Returns:
            ``(bases [B, K, H/s, W/s], sem_logits [B, C+1, H/8, W/8] |
            None)``; semantic logits only in training with a semantic head.
        """
        bases, sem_logits = self.basis(feats)
        self._check_bases_stride(bases, feats, feat_strides)
        return bases, sem_logits

    def _check_bases_stride(
        self,
        bases: Tensor,
        feats: Sequence[Tensor],
        feat_strides: Sequence[int],
    ) -> None:
        h = feats[0].size(2) * feat_strides[0]
        s = self.basis.out_stride
        if abs(bases.size(2) * s - h) < s:
            return
        read = tuple(
            feat_strides[i]
            for i in self.basis.in_indices
            if i < len(feat_strides)
        )
        raise ValueError(
            f'{type(self.basis).__name__} reads neck levels in_indices='
            f'{self.basis.in_indices}, at strides {read} in this detector, '
            f'and gives bases at stride {h / bases.size(2):g}, not its '
            f'out_stride={s}. The neck outputs strides '
            f"{tuple(feat_strides)}: Mask R-CNN's FPN starts at P2, one level "
            "below FCOS's (P3), so P3+P5 are in_indices=(1, 3) (and the "
            'semantic head sem_in_index=1).'
        )

    def predict_attentions(self, roi_feats: Tensor) -> Tensor:
        """``[n, C, S, S]`` RoI features -> ``[n, K*M*M]`` attentions
        (layout ``view(n, K, M, M)``, as :class:`Blender` reads them)."""
        x = roi_feats
        for conv in self.convs:
            x = conv(x)
        attns = self.conv_logits(x)
        M = self.blender.attn_size
        if attns.size(-1) > M or attns.size(-2) > M:
            attns = F.adaptive_avg_pool2d(attns, M)
        elif attns.shape[-2:] != (M, M):
            attns = resize(attns, (M, M))
        return attns.flatten(1)

    def forward(
        self, roi_feats: Tensor, bases: Tensor, rois: Tensor
    ) -> Tensor:
        """Blend each RoI's attentions with its crop of the bases.

        Args:
            roi_feats: ``[n, C, S, S]`` mask RoI features.
            bases: ``[B, K, H/s, W/s]`` from :meth:`forward_bases`.
            rois: ``[n, 5]`` (batch index, x1, y1, x2, y2), input pixels.

        Returns:
            Tensor: ``[n, 1, R, R]`` class-agnostic mask logits.
        """
        attns = self.predict_attentions(roi_feats)
        preds = self.blender(bases, attns, rois)
        if len(rois) == 0:
            # no RoI (a batch without positives): keep the attention
            # predictor in the graph with zero gradients, as FCNMaskHead's
            # convs are (DDP needs every parameter used)
            preds = preds + attns.sum() * 0
        return preds[:, None]

    def loss_semantic(
        self,
        sem_logits: Tensor,
        batch_gt_instances: InstanceList,
        pad_shape: Tuple[int, int],
    ) -> Tensor:
        """The basis module's auxiliary semantic loss (weighted), from the
        GT instance masks of the batch padded to ``pad_shape``."""
        return self.basis.loss_semantic(
            sem_logits, batch_gt_instances, pad_shape
        )

    def extra_repr(self) -> str:
        return f'class_agnostic=True, R={self.mask_size}'
