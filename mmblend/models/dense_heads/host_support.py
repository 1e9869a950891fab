"""Which of mmdet's one-stage dense heads can host BlendMask's top layer.

:data:`HOSTS` is the one table of the mixing sweep: every dense head that
one of mmdet 3.3's COCO configs uses as ``model.bbox_head``, with the
``Blend*`` class that hosts the top layer on it or the one-line reason it
cannot. The :class:`~mmblend.models.BlendMask` detector refuses an
unsupported host at build time from it (:func:`check_host`), the sweep test
builds every row from its mmdet config, and the table of ``docs/mixing.md``
is :func:`markdown_table` (a test keeps them equal).
"""

from typing import List, NamedTuple, Optional, Tuple

from mmdet.registry import MODELS


class Host(NamedTuple):
    """One row of the sweep.

    Attributes:
        head: mmdet's class name (``model.bbox_head.type`` of its config).
        config: a COCO config of mmdet 3.3 with that head, relative to
            mmdet's ``configs/`` (None if no config uses it).
        blend: the ``Blend*`` host class, or None if not supported.
        note: for a supported host, what differs from the ATSS example (or
            ''); for an unsupported one, why it cannot host the top layer.
        mixing: our configs in ``configs/mixing/`` (supported hosts).
    """

    head: str
    config: Optional[str]
    blend: Optional[str]
    note: str = ''
    mixing: Tuple[str, ...] = ()


_INSTANCE = (
    "the box head of {}, an instance segmenter with its own mask "
    'branch ({}): mix the mask branch into {} instead'
)
_FSAF_PAA = (
    're-selects its positives after sampling ({}), and the '
    'mechanism records the sampler\'s'
)

HOSTS = [
    # supported: a class line, the box-tower consumer, a positives source
    Host(
        'RetinaHead',
        'retinanet/retinanet_r50_fpn_1x_coco.py',
        'BlendRetinaHead',
        "a location's 9 anchors share its attention",
        ('blendmask-retinanet_r50_fpn_1x_coco.py',),
    ),
    Host(
        'FCOSHead',
        'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
        'BlendFCOSHead',
        '',
        ('blendmask-fcos_r50-caffe_fpn_gn-head_1x_coco.py',),
    ),
    Host(
        'ATSSHead',
        'atss/atss_r50_fpn_1x_coco.py',
        'BlendATSSHead',
        'also the DyHead configs (atss_r50_fpn_dyhead)',
        ('blendmask-atss_r50_fpn_1x_coco.py',),
    ),
    Host(
        'GFLHead',
        'gfl/gfl_r50_fpn_1x_coco.py',
        'BlendGFLHead',
        '',
        ('blendmask-gfl_r50_fpn_1x_coco.py',),
    ),
    Host(
        'TOODHead',
        'tood/tood_r50_fpn_1x_coco.py',
        'BlendTOODHead',
        'epoch-based loop only (its assigner switch counts epochs)',
        ('blendmask-tood_r50_fpn_1x_coco.py',),
    ),
    Host(
        'RTMDetSepBNHead',
        'rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
        'BlendRTMDetSepBNHead',
        "mask-aware Mosaic/MixUp pipelines",
        (
            'blendmask-rtmdet_s_8xb32-300e_coco.py',
            'blendmask-rtmdet_tiny_8xb32-300e_coco.py',
        ),
    ),
    Host(
        'RTMDetHead',
        None,
        'BlendRTMDetHead',
        'no mmdet config uses it (they use RTMDetSepBNHead)',
    ),
    Host(
        'YOLOXHead',
        'yolox/yolox_s_8xb8-300e_coco.py',
        'BlendYOLOXHead',
        'mask-aware Mosaic/MixUp and batch resize',
        ('blendmask-yolox_s_8xb8-300e_coco.py',),
    ),
    Host(
        'VFNetHead',
        'vfnet/vfnet_r50_fpn_1x_coco.py',
        'BlendVFNetHead',
        "top layer on the refined box tower; ATSS assignment "
        '(use_atss=True, as all its configs)',
    ),
    Host(
        'DDODHead',
        'ddod/ddod_r50_fpn_1x_coco.py',
        'BlendDDODHead',
        "positives: its regression assigner's (reg_assigner)",
    ),
    Host(
        'YOLOFHead',
        'yolof/yolof_r50-c5_8xb8-1x_coco.py',
        'BlendYOLOFHead',
        "one stride-32 level: bases from the backbone's C3+C5 "
        "(feat_source='backbone', backbone out_indices=(1, 3))",
    ),
    Host(
        'PISARetinaHead',
        'pisa/retinanet-r50_fpn_pisa_1x_coco.py',
        'BlendPISARetinaHead',
        'as RetinaNet',
    ),
    Host(
        'RetinaSepBNHead',
        'nas_fpn/retinanet_r50_fpn_crop640-50e_coco.py',
        'BlendRetinaSepBNHead',
        'also NAS-FPN, FPG, EfficientNet',
    ),
    Host(
        'NASFCOSHead',
        'nas_fcos/nas-fcos_r50-caffe_fpn_nashead-gn-head_4xb4-1x_coco.py',
        'BlendNASFCOSHead',
        'the NAS-FCOS configs with FCOSHead use BlendFCOSHead',
    ),
    # not supported
    Host(
        'PAAHead',
        'paa/paa_r50_fpn_1x_coco.py',
        None,
        _FSAF_PAA.format("PAA's GMM re-assignment in loss_by_feat"),
    ),
    Host(
        'LADHead',
        'lad/lad_r50-paa-r101_fpn_2xb8_coco_1x.py',
        None,
        'PAA re-assignment (see PAAHead) by a teacher that the LAD detector '
        'runs',
    ),
    Host(
        'LDHead',
        'ld/ld_r18-gflv1-r101_fpn_1x_coco.py',
        None,
        'needs the teacher that KnowledgeDistillationSingleStageDetector '
        'runs; its student is GFL: mix into the GFL config (BlendGFLHead)',
    ),
    Host(
        'FSAFHead',
        'fsaf/fsaf_r50_fpn_1x_coco.py',
        None,
        _FSAF_PAA.format(
            'online feature selection keeps the lowest-loss level of each GT'
        ),
    ),
    Host(
        'AutoAssignHead',
        'autoassign/autoassign_r50-caffe_fpn_1x_coco.py',
        None,
        'no positives to record: every location in a GT box is '
        'weighted by a learned confidence (no assigner, no sampler)',
    ),
    Host(
        'FreeAnchorRetinaHead',
        'free_anchor/freeanchor_r50_fpn_1x_coco.py',
        None,
        'no positives to record: its loss matches each GT to a bag of '
        'anchors by likelihood (no assigner, no sampler)',
    ),
    Host(
        'SABLRetinaHead',
        'sabl/sabl-retinanet_r50_fpn_1x_coco.py',
        None,
        "its sampler sees the squares kept by its approx anchors' flags, "
        'not get_anchors(): no mapping of positives to prediction rows',
    ),
    Host(
        'GARetinaHead',
        'guided_anchoring/ga-retinanet_r50_fpn_1x_coco.py',
        None,
        'selects candidates by its predicted anchor locations and its '
        'own top-k and NMS, without filter_scores_and_topk',
    ),
    Host(
        'RepPointsHead',
        'reppoints/reppoints-moment_r50_fpn-gn_head-gn_1x_coco.py',
        None,
        'its refine assigner is given the first stage\'s boxes over the '
        'valid points (get_points): no mapping of positives to rows',
    ),
    Host(
        'FoveaHead',
        'foveabox/fovea_r50_fpn_4xb4-1x_coco.py',
        None,
        'computes its targets without an assigner or sampler and keeps no '
        'matched GT per positive',
    ),
    Host(
        'CenterNetUpdateHead',
        'centernet/centernet-update_r50-caffe_fpn_ms-1x_coco.py',
        None,
        'positives are its heatmap centre cells, made in loss_by_feat '
        'without an assigner, sampler or matched GT',
    ),
    Host(
        'CenterNetHead',
        'centernet/centernet_r18_8xb16-crop512-140e_coco.py',
        None,
        'detections are heatmap peaks from its own top-k (no '
        'filter_scores_and_topk); no assigner defines positives',
    ),
    Host(
        'CornerHead',
        'cornernet/cornernet_hourglass104_8xb6-210e-mstest_coco.py',
        None,
        'a detection is a pair of corners from two heatmaps, not a prior '
        'with a box tower',
    ),
    Host(
        'CentripetalHead',
        'centripetalnet/centripetalnet_hourglass104_16xb6-crop511-210e-'
        'mstest_coco.py',
        None,
        'corner pairs, as CornerHead',
    ),
    Host(
        'SSDHead',
        'ssd/ssd300_coco.py',
        None,
        'its levels differ in width (512, 1024, 512, 256, ...): no single '
        'top layer runs on all of them',
    ),
    Host(
        'PISASSDHead',
        'pisa/ssd300_pisa_coco.py',
        None,
        'levels of different widths, as SSDHead',
    ),
    Host(
        'YOLOV3Head',
        'yolo/yolov3_d53_8xb8-320-273e_coco.py',
        None,
        'levels of different widths, one 1x1 conv for boxes, objectness '
        'and classes, and its own candidate selection',
    ),
    Host(
        'YOLACTHead',
        'yolact/yolact_r50_1xb8-55e_coco.py',
        None,
        _INSTANCE.format('YOLACT', 'prototype coefficients', 'RetinaNet'),
    ),
    Host(
        'CondInstBboxHead',
        'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py',
        None,
        _INSTANCE.format('CondInst', 'dynamic mask heads', 'FCOS'),
    ),
    Host(
        'BoxInstBboxHead',
        'boxinst/boxinst_r50_fpn_ms-90k_coco.py',
        None,
        _INSTANCE.format(
            'BoxInst', 'box-supervised dynamic mask heads', 'FCOS'
        ),
    ),
    Host(
        'RTMDetInsSepBNHead',
        'rtmdet/rtmdet-ins_s_8xb32-300e_coco.py',
        None,
        _INSTANCE.format('RTMDet-Ins', 'dynamic kernels', 'RTMDet'),
    ),
    Host(
        'ATSSVLFusionHead',
        'glip/glip_atss_swin-t_a_fpn_dyhead_16xb2_ms-2x_funtune_coco.py',
        None,
        "GLIP's vision-language head: its forward takes text features, "
        'which BlendMask does not give',
    ),
]

#: the paper's own FCOS host (not an mmdet head, so not in the sweep)
OWN_HOSTS = ('BlendMaskHead',)


def supported_hosts() -> List[str]:
    """The ``Blend*`` host classes, in table order."""
    return [h.blend for h in HOSTS if h.blend] + list(OWN_HOSTS)


def find(name: str) -> Optional[Host]:
    """The row of mmdet's head ``name`` or of its ``Blend`` name."""
    for host in HOSTS:
        if name in (host.head, host.blend, 'Blend' + host.head):
            return host
    return None


def check_host(head_type) -> None:
    """Raise ``ValueError`` unless ``model.bbox_head.type`` is a host of
    BlendMask's top layer (a registered ``BlendHostMixin`` subclass), naming
    the supported hosts and, for a head of the sweep, the ``Blend*`` class
    to use or why it cannot host the top layer."""
    from .blend_host_mixin import BlendHostMixin

    cls = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    if isinstance(cls, type) and issubclass(cls, BlendHostMixin):
        return
    name = (
        head_type
        if isinstance(head_type, str)
        else getattr(head_type, '__name__', repr(head_type))
    )
    host = find(name)
    if host is not None and host.blend:
        why = (
            f"mmdet's {host.head} has no BlendMask top layer: use "
            f"type='{host.blend}' (the same arguments)"
        )
    elif host is not None:
        why = (
            f"mmdet's {host.head} cannot host BlendMask's top layer: "
            f'{host.note}'
        )
    else:
        why = (
            "it is not a host of BlendMask's top layer (a dense head with "
            'BlendHostMixin)'
        )
    raise ValueError(
        f"model.bbox_head.type='{name}': {why}. Supported hosts: "
        f"{', '.join(supported_hosts())} (docs/mixing.md)"
    )


def markdown_table() -> str:
    """The sweep as the Markdown table of ``docs/mixing.md``."""
    rows = [
        '| mmdet head | config (mmdet 3.3) | BlendMask host | notes |',
        '|---|---|---|---|',
    ]
    for h in HOSTS:
        config = f'`{h.config}`' if h.config else '-'
        if h.blend:
            host = f'supported: `{h.blend}`'
            notes = [h.note] if h.note else []
            if h.mixing:
                notes.append(
                    'configs/mixing/: ' + ', '.join(f'`{m}`' for m in h.mixing)
                )
            note = '; '.join(notes)
        else:
            host, note = 'not supported', h.note
        rows.append(f'| `{h.head}` | {config} | {host} | {note} |')
    return '\n'.join(rows) + '\n'
