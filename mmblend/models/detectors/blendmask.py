"""The BlendMask detector."""
import copy
import importlib.util
import os.path as osp
from typing import Tuple

from torch import Tensor

from mmdet.models.detectors.single_stage_instance_seg import \
    SingleStageInstanceSegmentor
from mmdet.models.detectors.base import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig


@MODELS.register_module()
class BlendMask(SingleStageInstanceSegmentor):
    """BlendMask (Chen et al., CVPR 2020): FCOS + bases + blender.

    ``bbox_head`` is a :class:`~mmblend.models.BlendMaskHead`; its
    ``attn_channels`` is taken from the mask head's blender (set it only to
    double-check). ``mask_head`` is a
    :class:`~mmblend.models.BlendMaskMaskHead`, fed with the FPN outputs or,
    when its basis module has ``feat_source='backbone'`` (Table 4, C3+C5),
    with the backbone outputs.

    ``_forward`` (mode='tensor') runs on images alone and returns the raw
    head outputs and the bases, e.g. for FLOPs counting or export.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: OptConfigType,
                 bbox_head: ConfigType,
                 mask_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        BaseDetector.__init__(
            self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        mask_head = copy.deepcopy(mask_head)
        mask_head.update(train_cfg=copy.deepcopy(train_cfg),
                         test_cfg=copy.deepcopy(test_cfg))
        self.mask_head = MODELS.build(mask_head)
        blender = self.mask_head.blender
        bbox_head = copy.deepcopy(bbox_head)
        given = bbox_head.get('attn_channels')
        if given is not None and given != blender.attn_channels:
            raise ValueError(
                f'bbox_head.attn_channels={given} but the blender needs '
                f'K*M*M={blender.attn_channels} (K={blender.num_bases}, '
                f'M={blender.attn_size}, merge={blender.merge_type}); '
                'remove attn_channels from bbox_head to derive it')
        bbox_head.update(attn_channels=blender.attn_channels,
                         train_cfg=copy.deepcopy(train_cfg),
                         test_cfg=copy.deepcopy(test_cfg))
        self.bbox_head = MODELS.build(bbox_head)
        sem_classes = self.mask_head.basis.num_classes
        if sem_classes is not None and \
                sem_classes != self.bbox_head.num_classes:
            raise ValueError(
                f'the semantic head has num_classes={sem_classes} but '
                f'bbox_head has {self.bbox_head.num_classes}')
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def init_weights(self) -> None:
        """Initialise, failing clearly when pretrained weights are missing.

        mmengine would otherwise stop deep inside its loader (or with a bare
        ``No module named 'torchvision'``); training from scratch by accident
        must never happen silently.
        """
        check_pretrained(self.backbone)
        super().init_weights()

    def _extract(self, batch_inputs: Tensor) -> Tuple[tuple, tuple]:
        """(features for the box head, features for the basis module)."""
        feats = self.backbone(batch_inputs)
        neck_feats = self.neck(feats) if self.with_neck else feats
        if self.mask_head.feat_source == 'backbone':
            return neck_feats, feats
        return neck_feats, neck_feats

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList,
             **kwargs) -> dict:
        x, bottom = self._extract(batch_inputs)
        losses = self.bbox_head.loss(x, batch_data_samples, **kwargs)
        positive_infos = self.bbox_head.get_positive_infos()
        losses.update(
            self.mask_head.loss(
                bottom, batch_data_samples, positive_infos=positive_infos,
                **kwargs))
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True,
                **kwargs) -> SampleList:
        x, bottom = self._extract(batch_inputs)
        results_list = self.bbox_head.predict(
            x, batch_data_samples, rescale=False)
        results_list = self.mask_head.predict(
            bottom, batch_data_samples, rescale=rescale,
            results_list=results_list)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None,
                 **kwargs) -> tuple:
        """``(bbox_head outputs, (bases, sem_logits))`` without GT."""
        x, bottom = self._extract(batch_inputs)
        return self.bbox_head.forward(x), self.mask_head.forward(bottom)


def check_pretrained(module) -> None:
    """Raise an actionable error if ``module.init_cfg`` names pretrained
    weights that cannot be loaded here (``torchvision://`` without
    torchvision, or a missing local file)."""
    init_cfg = getattr(module, 'init_cfg', None)
    if not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained':
        return
    ckpt = str(init_cfg.get('checkpoint', ''))
    if ckpt.startswith('torchvision://'):
        if importlib.util.find_spec('torchvision') is None:
            raise RuntimeError(
                f'backbone.init_cfg asks for ImageNet weights {ckpt!r}, which '
                'mmengine loads through torchvision, and torchvision is not '
                'installed (the pinned CPU stack has none). Either install '
                'torchvision matching your torch on this machine, or download '
                'the weights once and point the config at the file: '
                "--cfg-options model.backbone.init_cfg.checkpoint="
                "/path/to/resnet50.pth, or set model.backbone.init_cfg=None "
                'to train from scratch on purpose.')
    elif '://' not in ckpt and not osp.isfile(ckpt):
        raise FileNotFoundError(
            f'backbone pretrained checkpoint {ckpt!r} not found (from '
            'model.backbone.init_cfg.checkpoint); fix the path, or set '
            'model.backbone.init_cfg=None to train from scratch on purpose.')
