"""BlendMask's top layer on mmdet's query-based heads (DINO, Deformable DETR).

The *top layer* of a query-based host is a small projection from each
decoder query's hidden state ``[C]`` to its ``K*M*M`` attentions (the dense
hosts' 3x3 conv on the box tower has no counterpart here: a DETR query has
no location). :class:`BlendQueryHostMixin` adds it to mmdet's
:class:`~mmdet.models.dense_heads.DeformableDETRHead` and
:class:`~mmdet.models.dense_heads.DINOHead` without touching their forward,
matching, losses or post-processing:

* training: the host's own Hungarian matching (its ``_get_targets_single``)
  gives, per decoder layer and image, the matched queries and their GT;
  :meth:`~BlendQueryHostMixin.get_positive_infos` evaluates the top layer at
  those queries of the last decoder layer (optionally of every decoder
  layer, and of DINO's denoising queries, whose GT is known by
  construction);
* inference: the host's own top-``max_per_img`` selection over queries x
  classes runs unchanged; the query each detection was read from is
  recorded while it runs (:class:`RowReads`) and the top layer is evaluated
  at those queries only.
"""

from contextlib import contextmanager
from typing import Iterator, List, Sequence

import torch
import torch.nn as nn
from mmdet.models.dense_heads import DeformableDETRHead, DINOHead
from mmdet.registry import MODELS
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData
from mmengine.utils import digit_version
from torch import Tensor
from torch.overrides import TorchFunctionMode

_TORCH_VERSION = digit_version(torch.__version__)
#: the oldest torch the query hosts run on: :class:`RowReads` records the
#: host's box reads with a TorchFunctionMode, which torch 2.1's
#: ``Tensor.__getitem__`` bypasses (docs/compat.md)
MIN_TORCH = '2.2'


def torch_supported() -> bool:
    """Whether the installed torch runs the query hosts (>= MIN_TORCH)."""
    return _TORCH_VERSION >= digit_version(MIN_TORCH)


class RowReads(TorchFunctionMode):
    """Within the context, the index of every indexing read
    (``tensor[index]``) of one given tensor, in call order (``indices``).

    A torch function mode sees every torch call made inside the context, so
    the indices a host's own code uses are recorded while it runs, without
    copying that code or patching anything global.
    """

    def __init__(self, tensor: Tensor) -> None:
        super().__init__()
        self.tensor = tensor
        self.indices = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is Tensor.__getitem__ and args[0] is self.tensor:
            self.indices.append(args[1])
        return func(*args, **(kwargs or {}))


@contextmanager
def recorded(obj, name: str) -> Iterator[list]:
    """Within the context, the return value of every call of the method
    ``obj.<name>``, in call order (the instance's attribute wraps the method
    for the duration of the context only)."""
    results = []
    method = getattr(obj, name)

    def record(*args, **kwargs):
        results.append(method(*args, **kwargs))
        return results[-1]

    setattr(obj, name, record)
    try:
        yield results
    finally:
        delattr(obj, name)


class BlendQueryHostMixin:
    """Adds BlendMask's top layer to an mmdet DETR-style head (the *host*).

    Use it before the host class::

        class BlendDINOHead(BlendQueryHostMixin, DINOHead): ...

    Args (besides the host's own):
        attn_channels (int): ``K*M*M`` outputs of the top layer (0: none,
            e.g. the FCIS-like assembler). The detector
            (:class:`~mmblend.models.BlendDINO`, ...) fills it from its
            blender.
        attn_hidden_channels (int): the top layer is a 2-layer MLP
            ``embed_dims -> attn_hidden_channels -> K*M*M`` with a ReLU
            (default 256); 0: one linear layer ``embed_dims -> K*M*M``.
        mask_loss_aux_layers (bool): also give the matched queries of the
            auxiliary (earlier) decoder layers a mask loss, through the same
            top layer. Defaults to False (the last layer only).

    The mask loss of every positive is weighted uniformly (weight 1).
    Which positives are used is documented in docs/dino.md, with the
    measurements behind the defaults.
    """

    def __init__(
        self,
        *args,
        attn_channels: int = 784,
        attn_hidden_channels: int = 256,
        mask_loss_aux_layers: bool = False,
        **kwargs,
    ) -> None:
        if not torch_supported():
            raise RuntimeError(
                f'{type(self).__name__} needs torch >= {MIN_TORCH} '
                f'(tested: 2.13); torch {torch.__version__} indexes tensors '
                'without the function mode that pairs detections with their '
                'queries'
            )
        self.attn_channels = attn_channels
        self.mask_loss_aux_layers = mask_loss_aux_layers
        super().__init__(*args, **kwargs)
        if attn_channels <= 0:
            self.top_layer = None
        elif attn_hidden_channels > 0:
            self.top_layer = nn.Sequential(
                nn.Linear(self.embed_dims, attn_hidden_channels),
                nn.ReLU(inplace=True),
                nn.Linear(attn_hidden_channels, attn_channels),
            )
        else:
            self.top_layer = nn.Linear(self.embed_dims, attn_channels)

    def attentions(self, hidden_states: Tensor) -> Tensor:
        """The top layer: ``[..., embed_dims]`` -> ``[..., K*M*M]``
        (``[..., 0]`` without a top layer)."""
        if self.top_layer is None:
            return hidden_states.new_zeros(hidden_states.shape[:-1] + (0,))
        return self.top_layer(hidden_states)

    # training: record the host's own positives -----------------------------
    def loss(self, hidden_states: Tensor, *args, **kwargs) -> dict:
        """The host's losses; records its positives of every decoder layer
        for :meth:`get_positive_infos`.

        Args:
            hidden_states: ``[L, B, N, C]`` of the ``L`` decoder layers, the
                ``N`` queries of each image (DINO: denoising queries first,
                then the matching ones).
        """
        self._raw_positive_infos = dict(
            hidden_states=hidden_states, matched=[], denoising=[]
        )
        return super().loss(hidden_states, *args, **kwargs)

    def _get_targets_single(
        self,
        cls_score: Tensor,
        bbox_pred: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
    ) -> tuple:
        """The host's targets of one image and decoder layer, recording its
        Hungarian assignment: the matched queries (``pos_inds`` the host
        returns, over the ``[Q]`` matching queries) and their GT."""
        with recorded(self.assigner, 'assign') as assigned:
            out = super()._get_targets_single(
                cls_score, bbox_pred, gt_instances, img_meta
            )
        pos_inds = out[4]
        if len(assigned) != 1 or not torch.equal(
            pos_inds, (assigned[0].gt_inds > 0).nonzero().squeeze(1)
        ):
            raise RuntimeError(
                f'{type(self).__name__}: the host\'s positives are not its '
                'assigner\'s matched queries; cannot pair them with their GT'
            )
        gt_inds = assigned[0].gt_inds[pos_inds] - 1  # 0: background
        self._raw_positive_infos['matched'].append(
            (pos_inds, gt_inds, len(cls_score))
        )
        return out

    def decoder_positives(self, num_layers: int, num_imgs: int) -> list:
        """``[layer][image]`` recorded matches ``(pos_inds [P], gt_inds [P],
        Q)`` of the decoder layers: the host computes targets for each
        decoder layer in order (``DETRHead.loss_by_feat``), then, two-stage,
        for the encoder proposals, which are not decoder queries and are
        dropped."""
        calls = self._raw_positive_infos['matched']
        if len(calls) not in (
            num_layers * num_imgs,
            (num_layers + 1) * num_imgs,
        ):
            raise RuntimeError(
                f'{type(self).__name__}: {len(calls)} target computations '
                f'for {num_layers} decoder layers and {num_imgs} images'
            )
        return [
            calls[i * num_imgs : (i + 1) * num_imgs] for i in range(num_layers)
        ]

    def get_positive_infos(self) -> InstanceList:
        """Positives of the last :meth:`loss` call, per image:

        * ``layers [P]``, ``queries [P]``: decoder layer and row in its
          ``N`` queries (DINO: denoising queries first) of each positive;
        * ``pos_assigned_gt_inds [P]``: its GT;
        * ``attns [P, K*M*M]``: the top layer at that query's hidden state;
        * ``mask_weights [P]``: ones.

        The last decoder layer's matched queries come first, then (with
        ``mask_loss_aux_layers``) those of the earlier layers, then (DINO
        with ``mask_loss_denoising``) the denoising positives.
        """
        raw = getattr(self, '_raw_positive_infos', None)
        if raw is None:
            raise RuntimeError(
                'get_positive_infos() needs a loss() call first'
            )
        hidden = raw['hidden_states']
        L, B, N = hidden.shape[:3]
        # the last layer first
        layers = range(L - 1, -1, -1) if self.mask_loss_aux_layers else [L - 1]
        matched = self.decoder_positives(L, B)
        infos = []
        for img in range(B):
            parts = []
            for layer in layers:
                pos_inds, gt_inds, Q = matched[layer][img]
                # the Q matching queries are the last of the N rows
                parts.append((layer, pos_inds + N - Q, gt_inds))
            parts += self.extra_positives(img, layers)
            rows = [
                (torch.full_like(q, layer), q, gt) for layer, q, gt in parts
            ]
            layer_ids, queries, gt_inds = (torch.cat(x) for x in zip(*rows))
            infos.append(
                InstanceData(
                    layers=layer_ids,
                    queries=queries,
                    pos_assigned_gt_inds=gt_inds,
                    attns=self.attentions(hidden[layer_ids, img, queries]),
                    mask_weights=hidden.new_ones(len(queries)),
                )
            )
        return infos

    def extra_positives(self, img: int, layers: Sequence[int]) -> list:
        """``[(layer, rows [P], gt_inds [P])]`` of image ``img`` in
        ``layers`` besides the matched queries (none here; DINO's denoising
        queries)."""
        return []

    # inference: record which query each detection was read from ------------
    def predict(
        self,
        hidden_states: Tensor,
        references: List[Tensor],
        batch_data_samples,
        rescale: bool = True,
    ) -> InstanceList:
        """The host's detections with ``attns [D, K*M*M]``: the top layer at
        the last decoder layer's hidden state of the query each detection
        was selected from."""
        results_list = super().predict(
            hidden_states, references, batch_data_samples, rescale=rescale
        )
        for img, results in enumerate(results_list):
            results.attns = self.attentions(
                hidden_states[-1, img, results.pop('queries')]
            )
        return results_list

    def _predict_by_feat_single(
        self,
        cls_score: Tensor,
        bbox_pred: Tensor,
        img_meta: dict,
        rescale: bool = True,
    ) -> InstanceData:
        """The host's post-processing of one image, unchanged; adds
        ``queries [D]``, the query of each detection.

        The host (``DETRHead._predict_by_feat_single``) picks the top
        ``max_per_img`` over queries x classes and reads each detection's
        box as ``bbox_pred[query]`` (``query = index // num_classes``; the
        softmax variant ranks queries directly). That read is recorded
        (:class:`RowReads` on ``bbox_pred``) instead of recomputing the
        selection, so the pairing follows the host's own code whichever
        branch it takes, and a host that reads its boxes differently is
        refused instead of paired with wrong attentions.

        Why this way: the query index exists only inside that method and is
        not returned. Recomputing the top-k beside it would be a second copy
        of the selection (what the dense hosts pay for); matching
        detections back to queries by score or box is ambiguous (DETR
        predicts duplicates, and boxes clipped to the image coincide);
        patching ``torch.topk`` or mmdet's functions would act globally. A
        torch function mode is scoped to this call and this one tensor.
        """
        with RowReads(bbox_pred) as reads:
            results = super()._predict_by_feat_single(
                cls_score, bbox_pred, img_meta, rescale
            )
        queries = reads.indices[0] if len(reads.indices) == 1 else None
        if not (
            isinstance(queries, Tensor)
            and queries.dtype == torch.long
            and queries.shape == results.scores.shape
        ):
            raise RuntimeError(
                f'{type(self).__name__}: the host did not read one box row '
                'per detection from bbox_pred; its detections cannot be '
                'paired with their queries'
            )
        results.queries = queries
        return results


@MODELS.register_module()
class BlendDeformableDETRHead(BlendQueryHostMixin, DeformableDETRHead):
    """mmdet's Deformable DETR head (plain, box refinement, two-stage) +
    BlendMask's top layer. Scores, matching, losses: the host's."""


@MODELS.register_module()
class BlendDINOHead(BlendQueryHostMixin, DINOHead):
    """mmdet's DINO head + BlendMask's top layer. Scores, matching, losses
    (denoising and encoder ones included): the host's.

    Args (besides :class:`BlendQueryHostMixin`'s):
        mask_loss_denoising (bool): also give DINO's positive denoising
            queries (noised GT boxes and labels, one per GT and denoising
            group, their GT known by construction) a mask loss, in the
            layers that get one. Defaults to False.
    """

    def __init__(
        self, *args, mask_loss_denoising: bool = False, **kwargs
    ) -> None:
        self.mask_loss_denoising = mask_loss_denoising
        super().__init__(*args, **kwargs)

    def _get_dn_targets_single(
        self, gt_instances: InstanceData, img_meta: dict, dn_meta: dict
    ) -> tuple:
        """The host's denoising targets of one image and decoder layer,
        recording its positive denoising queries and their GT (the rows of
        the GT labels it reads for their label targets)."""
        with RowReads(gt_instances.labels) as reads:
            out = super()._get_dn_targets_single(
                gt_instances, img_meta, dn_meta
            )
        pos_inds = out[4]
        if len(reads.indices) != 1 or reads.indices[0].shape != pos_inds.shape:
            raise RuntimeError(
                f'{type(self).__name__}: cannot pair the host\'s positive '
                'denoising queries with their GT'
            )
        self._raw_positive_infos['denoising'].append(
            (pos_inds, reads.indices[0])
        )
        return out

    def extra_positives(self, img: int, layers: Sequence[int]) -> list:
        """DINO's positive denoising queries of image ``img`` in ``layers``
        (with ``mask_loss_denoising``); the host computes the denoising
        targets for every decoder layer in order (``loss_dn``)."""
        raw = self._raw_positive_infos
        if not self.mask_loss_denoising or not raw['denoising']:
            return []
        B = raw['hidden_states'].size(1)
        return [
            (layer,) + raw['denoising'][layer * B + img] for layer in layers
        ]
