"""Convert an AdelaiDet BlendMask checkpoint to an mmblend checkpoint.

Usage::

    python tools/model_converters/adelaidet2mmblend.py IN OUT [--config CFG]

``IN`` is a checkpoint of AdelaiDet's model zoo or of AdelaiDet training
(instance or panoptic BlendMask): a
flat ``{key: tensor}`` dict (what its release scripts write), detectron2's
``{'model': state_dict, ...}``, or a ``.pkl`` of numpy arrays (read with an
unpickler that only admits numpy arrays). ``OUT`` is written in mmdet's
layout, ``{'state_dict': ..., 'meta': {'dataset_meta': {'classes': ...}}}``,
and loads with ``strict=True`` into ``CFG``: one of
``configs/adelaidet_zoo/blendmask_{r50_1x,r50_3x,r101_3x,r101_dcni3_5x,
550_r50_3x,panoptic_r50_3x}.py``; without ``--config`` the matching one is
chosen from the checkpoint's keys (R-50 1x and 3x have the same model:
r50_3x is used; instance and panoptic checkpoints, which AdelaiDet publishes
under the same file names, are told apart by the ``panoptic_module.*``
keys). The
result is checked by building ``CFG``'s model and loading strictly: unknown
or missing keys, shape mismatches and a config that does not match the
checkpoint (e.g. R-50 weights into the R-101 config) stop the conversion
with a message naming them.

Key mapping (AdelaiDet / detectron2 -> mmblend; ``s`` = 2..5,
``i`` block index, ``j`` = 1..3):

==========================================================  =================================================
``backbone.bottom_up.stem.conv1.weight``                    ``backbone.conv1.weight``
``backbone.bottom_up.stem.conv1.norm.*``                    ``backbone.bn1.*``
``backbone.bottom_up.res{s}.{i}.conv{j}.weight``            ``backbone.layer{s-1}.{i}.conv{j}.weight``
``backbone.bottom_up.res{s}.{i}.conv{j}.norm.*``            ``backbone.layer{s-1}.{i}.bn{j}.*``
``backbone.bottom_up.res{s}.{i}.shortcut.weight``           ``backbone.layer{s-1}.{i}.downsample.0.weight``
``backbone.bottom_up.res{s}.{i}.shortcut.norm.*``           ``backbone.layer{s-1}.{i}.downsample.1.*``
``backbone.bottom_up.res{s}.{i}.conv2_offset.*`` (DCNv2)    ``backbone.layer{s-1}.{i}.conv2.conv_offset.*``
``backbone.fpn_lateral{l}.*`` (l = 3..5, panoptic 2..5)     ``neck.lateral_convs.{l-b}.conv.*`` (b = lowest l)
``backbone.fpn_output{l}.*``                                ``neck.fpn_convs.{l-b}.conv.*``
``backbone.top_block.p6.*`` / ``.p7.*``                     ``neck.fpn_convs.{6-b}.conv.*`` / ``neck.fpn_convs.{7-b}.conv.*``
``proposal_generator.fcos_head.cls_tower.{3k}.*``           ``bbox_head.cls_convs.{k}.conv.*``
``proposal_generator.fcos_head.cls_tower.{3k+1}.*`` (GN)    ``bbox_head.cls_convs.{k}.gn.*``
``proposal_generator.fcos_head.bbox_tower.{3k}/{3k+1}.*``   ``bbox_head.reg_convs.{k}.conv/gn.*``
``proposal_generator.fcos_head.share_tower.{3k}/{3k+1}.*``  ``bbox_head.cls_convs.{k}.conv/gn.*`` (shared tower)
``proposal_generator.fcos_head.cls_logits.*``               ``bbox_head.conv_cls.*``
``proposal_generator.fcos_head.bbox_pred.*``                ``bbox_head.conv_reg.*``
``proposal_generator.fcos_head.ctrness.*`` / ``centerness``  ``bbox_head.conv_centerness.*``
``proposal_generator.fcos_head.scales.{l}.scale`` [1]       ``bbox_head.scales.{l}.scale`` []
``top_layer.*``                                             ``bbox_head.top_layer.*``
``basis_module.refine.{i}.0.weight`` / ``.1.*``             ``mask_head.basis.refine.{i}.0.conv.weight`` / ``.0.bn.*``
``basis_module.tower.{t}.0.weight`` / ``.1.*`` (t < n)      ``mask_head.basis.tower.{t}.conv.weight`` / ``.bn.*``
``basis_module.tower.{n+1}.0.weight`` / ``.1.*``            ``mask_head.basis.head.0.conv.weight`` / ``.bn.*``
``basis_module.tower.{n+2}.*``                              ``mask_head.basis.bases.*``
``basis_module.seg_head.{0,3}.weight``                      ``mask_head.basis.sem_convs.{0,1}.conv.weight``
``basis_module.seg_head.{1,4}.*``                           ``mask_head.basis.sem_convs.{0,1}.bn.*``
``basis_module.seg_head.6.*``                               ``mask_head.basis.sem_logits.*``, rows reordered
``panoptic_module.p{l}.{2j}.weight`` (l = 2..5)             ``semantic_head.conv_upsample_layers.{l-2}.conv.{j}.conv.weight``
``panoptic_module.p{l}.{2j}.norm.*`` (GN)                   ``semantic_head.conv_upsample_layers.{l-2}.conv.{j}.gn.*``
``panoptic_module.predictor.*``                             ``semantic_head.conv_logits.*``, rows reordered
==========================================================  =================================================

(``n`` = ``BASIS_MODULE.NUM_CONVS``; ``tower.{n}`` is the parameter-free
x2 upsampling.)

Filled or dropped explicitly, and reported:

* ``num_batches_tracked`` of every mmdet BN that replaces a detectron2
  ``FrozenBatchNorm2d`` (which has none): set to 0 (unused: the backbone's
  BN is frozen, ``norm_eval=True``);
* ``bbox_head.scales.{l}.scale``: AdelaiDet's BlendMask models have no
  per-level scale (``FCOS.USE_SCALE: False``); mmdet's head has one per
  level, set to 1.0 (the zoo configs freeze it there). A checkpoint that has
  scales keeps its values.

The semantic head's logits: AdelaiDet's row 0 is background and row
``c + 1`` class ``c``; mmblend's row ``c`` is class ``c`` and row ``C``
background. Shapes are equal, so only this converter can get it right: rows
(and biases) are moved ``[1, ..., C, 0]``. The same holds for the panoptic
semantic head: detectron2's ``prepare_panoptic_fpn.py`` labels all things 0
and the stuff classes 1..53; mmdet's ``PanopticFPNHead`` has the stuff
classes at 0..52 and "things" at 53 (both order the stuff classes by
category id).

Not converted: FCOS heads with BN towers (``RT_R_50_4x_bn-head_*``) and DLA
backbones.
"""

import argparse
import os.path as osp
import pickle
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZOO = osp.join(REPO_ROOT, 'configs', 'adelaidet_zoo')

BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var')


class ConversionError(ValueError):
    """The checkpoint cannot be converted (message says why)."""


# --------------------------------------------------------------- loading
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts/lists of numpy arrays and nothing else."""

    ALLOWED = {
        ('numpy.core.multiarray', '_reconstruct'),
        ('numpy._core.multiarray', '_reconstruct'),
        ('numpy.core.multiarray', 'scalar'),
        ('numpy._core.multiarray', 'scalar'),
        ('numpy', 'ndarray'),
        ('numpy', 'dtype'),
        ('collections', 'OrderedDict'),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f'{module}.{name} is not allowed in a weights .pkl (only numpy '
            'arrays are read)'
        )


def load_source(path: str) -> Dict[str, Tensor]:
    """Read an AdelaiDet checkpoint into a flat ``{key: Tensor}`` dict.

    Accepts a flat dict, ``{'model': state_dict, ...}`` (detectron2), or a
    ``.pkl`` of numpy arrays; strips a ``module.`` (DDP) prefix.
    """
    if not osp.isfile(path):
        raise ConversionError(f'checkpoint {path!r} does not exist')
    if path.endswith('.pkl'):
        with open(path, 'rb') as f:
            try:
                obj = _NumpyOnlyUnpickler(f, encoding='latin1').load()
            except pickle.UnpicklingError as e:
                raise ConversionError(f'cannot read {path}: {e}') from e
    else:
        try:
            obj = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as e:
            raise ConversionError(
                f'{path} holds objects other than tensors (e.g. a full '
                'training checkpoint with optimizer/scheduler state): load '
                "it once in AdelaiDet and save only checkpoint['model'], or "
                'convert the released model file'
            ) from e
    if isinstance(obj, dict) and isinstance(obj.get('model'), dict):
        obj = obj['model']
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(
            f'{path}: expected a dict of weights (flat, or detectron2\'s '
            f"{{'model': ...}}), got {type(obj).__name__}"
        )
    sd = OrderedDict()
    for k, v in obj.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v.copy(order='C'))  # keeps 0-d arrays 0-d
        if not isinstance(v, Tensor):
            raise ConversionError(
                f'{path}: value of {k!r} is a {type(v).__name__}, not an '
                'array/tensor'
            )
        sd[k] = v
    if all(k.startswith('module.') for k in sd):
        sd = OrderedDict((k[len('module.') :], v) for k, v in sd.items())
    return sd


# ------------------------------------------------------------ inspection
def describe(src: Dict[str, Tensor]) -> dict:
    """Architecture of an AdelaiDet checkpoint, read from its keys."""
    blocks = {}
    for k in src:
        m = re.match(r'backbone\.bottom_up\.res(\d)\.(\d+)\.', k)
        if m:
            s, i = int(m.group(1)), int(m.group(2))
            blocks[s] = max(blocks.get(s, 0), i + 1)
    depths = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
    counts = tuple(blocks.get(s, 0) for s in (2, 3, 4, 5))
    if counts not in depths:
        raise ConversionError(
            'not an AdelaiDet BlendMask ResNet checkpoint: blocks per stage '
            f'res2..res5 are {counts} (backbone.bottom_up.res*), expected '
            f'one of {sorted(depths, key=str)}'
        )
    head = 'proposal_generator.fcos_head.'

    def tower_len(name):
        idx = [
            int(k[len(head + name) + 1 :].split('.')[0])
            for k in src
            if k.startswith(head + name + '.')
        ]
        return 0 if not idx else max(idx) // 3 + 1

    levels = [
        int(m.group(1))
        for m in (
            re.fullmatch(r'backbone\.fpn_lateral(\d)\.weight', k) for k in src
        )
        if m
    ]
    if not levels:
        raise ConversionError(
            'no FPN in the checkpoint (backbone.fpn_lateral* keys)'
        )
    return dict(
        depth=depths[counts],
        fpn_min_level=min(levels),
        panoptic=any(k.startswith('panoptic_module.') for k in src),
        dcn=any('conv2_offset' in k for k in src),
        p7='backbone.top_block.p7.weight' in src,
        cls_convs=tower_len('cls_tower'),
        box_convs=tower_len('bbox_tower'),
        share_convs=tower_len('share_tower'),
        semantic=any(k.startswith('basis_module.seg_head.') for k in src),
    )


def pick_config(info: dict) -> str:
    """The adelaidet_zoo config that builds the checkpoint's model."""
    if info['panoptic']:
        name = (
            'blendmask-panoptic_r50-caffe_fpn_ms-3x_coco.py'
            if (info['depth'], info['dcn']) == (50, False)
            else None
        )
    elif (
        info['share_convs']
        and not info['p7']
        and info['depth'] == 50
        and not info['dcn']
    ):
        name = 'blendmask_r50-caffe_fpn_ms-550-3x_coco.py'
    elif info['share_convs'] == 0 and info['p7']:
        name = {
            (50, False): 'blendmask_r50-caffe_fpn_ms-3x_coco.py',
            (101, False): 'blendmask_r101-caffe_fpn_ms-3x_coco.py',
            (101, True): 'blendmask_r101-caffe-dcni3_fpn_ms-crop-5x_coco.py',
        }.get((info['depth'], info['dcn']))
    else:
        name = None
    if name is None:
        raise ConversionError(
            f'no config in configs/adelaidet_zoo/ builds this checkpoint '
            f'({summary(info)}): pass --config'
        )
    return osp.join(ZOO, name)


def summary(info: dict) -> str:
    towers = (
        f"shared tower of {info['share_convs']}"
        if info['share_convs']
        else f"towers {info['cls_convs']}+{info['box_convs']}"
    )
    return (
        f"{'panoptic ' if info['panoptic'] else ''}"
        f"R-{info['depth']}{' dcn' if info['dcn'] else ''}, "
        f"FPN P{info['fpn_min_level']} to {'P7' if info['p7'] else 'P6'}"
        f", {towers} convs"
    )


# --------------------------------------------------------------- mapping
def _map_norm(prefix_to: str, rest: str) -> Optional[str]:
    return (
        f'{prefix_to}.{rest}'
        if rest in BN_PARAMS + ('num_batches_tracked',)
        else None
    )


def map_key(key: str, fpn_min_level: int = 3) -> Optional[str]:
    """mmblend key of an AdelaiDet key (None: no rule matches).

    ``fpn_min_level``: the lowest FPN level of the checkpoint (3; 2 for
    panoptic models), index 0 of mmdet's FPN lists.
    ``basis_module.tower.*`` is handled by :func:`convert` (its indices
    depend on the tower depth).
    """
    # each rule covers its own key prefix: at most one can match
    for rule in (
        _map_backbone_key,
        _map_neck_key,
        _map_panoptic_key,
        _map_fcos_key,
        _map_basis_key,
    ):
        new = rule(key, fpn_min_level)
        if new is not None:
            return new
    return None


def _map_backbone_key(key: str, fpn_min_level: int) -> Optional[str]:
    """``backbone.bottom_up.*`` (the ResNet)."""
    m = re.fullmatch(
        r'backbone\.bottom_up\.stem\.conv1\.(weight|norm\.(.+))', key
    )
    if m:
        return (
            'backbone.conv1.weight'
            if m.group(2) is None
            else _map_norm('backbone.bn1', m.group(2))
        )
    m = re.fullmatch(r'backbone\.bottom_up\.res([2-5])\.(\d+)\.(.+)', key)
    if not m:
        return None
    pre = f'backbone.layer{int(m.group(1)) - 1}.{m.group(2)}'
    rest = m.group(3)
    m2 = re.fullmatch(r'conv([123])\.(weight|norm\.(.+))', rest)
    if m2:
        return (
            f'{pre}.conv{m2.group(1)}.weight'
            if m2.group(3) is None
            else _map_norm(f'{pre}.bn{m2.group(1)}', m2.group(3))
        )
    m2 = re.fullmatch(r'shortcut\.(weight|norm\.(.+))', rest)
    if m2:
        return (
            f'{pre}.downsample.0.weight'
            if m2.group(2) is None
            else _map_norm(f'{pre}.downsample.1', m2.group(2))
        )
    m2 = re.fullmatch(r'conv2_offset\.(weight|bias)', rest)
    if m2:
        return f'{pre}.conv2.conv_offset.{m2.group(1)}'
    return None


def _map_neck_key(key: str, fpn_min_level: int) -> Optional[str]:
    """``backbone.fpn_*`` and ``backbone.top_block.*`` (the FPN)."""
    b = fpn_min_level
    m = re.fullmatch(
        r'backbone\.fpn_(lateral|output)([2-5])\.(weight|bias)', key
    )
    if m and int(m.group(2)) >= b:
        kind = 'lateral_convs' if m.group(1) == 'lateral' else 'fpn_convs'
        return f'neck.{kind}.{int(m.group(2)) - b}.conv.{m.group(3)}'
    m = re.fullmatch(r'backbone\.top_block\.p([67])\.(weight|bias)', key)
    if m:
        return f'neck.fpn_convs.{int(m.group(1)) - b}.conv.{m.group(2)}'
    return None


def _map_panoptic_key(key: str, fpn_min_level: int) -> Optional[str]:
    """``panoptic_module.*`` (the panoptic FPN's semantic head)."""
    m = re.fullmatch(
        r'panoptic_module\.p([2-5])\.(\d+)\.(weight|norm\.(.+))', key
    )
    if m and int(m.group(2)) % 2 == 0:
        pre = (
            f'semantic_head.conv_upsample_layers.{int(m.group(1)) - 2}'
            f'.conv.{int(m.group(2)) // 2}'
        )
        if m.group(4) is None:
            return f'{pre}.conv.weight'
        return (
            f'{pre}.gn.{m.group(4)}'
            if m.group(4) in ('weight', 'bias')
            else None
        )
    m = re.fullmatch(r'panoptic_module\.predictor\.(weight|bias)', key)
    if m:
        return f'semantic_head.conv_logits.{m.group(1)}'
    return None


def _map_fcos_key(key: str, fpn_min_level: int) -> Optional[str]:
    """``proposal_generator.fcos_head.*`` and ``top_layer.*`` (the box
    head)."""
    m = re.fullmatch(
        r'proposal_generator\.fcos_head\.(cls|bbox|share)_tower\.(\d+)\.'
        r'(weight|bias)',
        key,
    )
    if m:
        idx = int(m.group(2))
        tower = {
            'cls': 'cls_convs',
            'bbox': 'reg_convs',
            'share': 'cls_convs',
        }[m.group(1)]
        part = {0: 'conv', 1: 'gn'}.get(idx % 3)
        if part is None:
            return None
        return f'bbox_head.{tower}.{idx // 3}.{part}.{m.group(3)}'
    m = re.fullmatch(
        r'proposal_generator\.fcos_head\.(cls_logits|bbox_pred|ctrness|'
        r'centerness)\.(weight|bias)',
        key,
    )
    if m:
        name = {
            'cls_logits': 'conv_cls',
            'bbox_pred': 'conv_reg',
            'ctrness': 'conv_centerness',
            'centerness': 'conv_centerness',
        }[m.group(1)]
        return f'bbox_head.{name}.{m.group(2)}'
    m = re.fullmatch(
        r'proposal_generator\.fcos_head\.scales\.(\d+)\.scale', key
    )
    if m:
        return f'bbox_head.scales.{m.group(1)}.scale'
    m = re.fullmatch(r'top_layer\.(weight|bias)', key)
    if m:
        return f'bbox_head.top_layer.{m.group(1)}'
    return None


def _map_basis_key(key: str, fpn_min_level: int) -> Optional[str]:
    """``basis_module.refine.*`` and ``basis_module.seg_head.*`` (the
    bottom module but its tower)."""
    m = re.fullmatch(r'basis_module\.refine\.(\d+)\.(0\.weight|1\.(.+))', key)
    if m:
        pre = f'mask_head.basis.refine.{m.group(1)}.0'
        return (
            f'{pre}.conv.weight'
            if m.group(3) is None
            else _map_norm(f'{pre}.bn', m.group(3))
        )
    m = re.fullmatch(r'basis_module\.seg_head\.([0-9])\.(.+)', key)
    if m:
        idx, rest = int(m.group(1)), m.group(2)
        if idx in (0, 3) and rest == 'weight':
            return f'mask_head.basis.sem_convs.{idx // 3}.conv.weight'
        if idx in (1, 4):
            return _map_norm(f'mask_head.basis.sem_convs.{idx // 3}.bn', rest)
        if idx == 6 and rest in ('weight', 'bias'):
            return f'mask_head.basis.sem_logits.{rest}'
    return None


def _basis_tower_keys(src: Dict[str, Tensor]) -> Dict[str, str]:
    """Map ``basis_module.tower.*`` (conv blocks, upsample, conv block, 1x1
    conv) to mmblend's ``tower`` / ``head`` / ``bases``."""
    keys = [k for k in src if k.startswith('basis_module.tower.')]
    if not keys:
        return {}
    idx = sorted({int(k.split('.')[2]) for k in keys})
    last = idx[-1]  # the 1x1 conv to K bases
    n = last - 2  # conv blocks before the upsampling
    expected = list(range(n)) + [n + 1, last]
    if idx != expected:
        raise ConversionError(
            'basis_module.tower has modules at indices '
            f'{idx}; AdelaiDet\'s ProtoNet has conv blocks 0..n-1, the '
            f'upsampling at n, a conv block at n+1 and the 1x1 conv at n+2'
        )
    out = {}
    for k in keys:
        t, rest = int(k.split('.')[2]), '.'.join(k.split('.')[3:])
        if t == last:
            if rest in ('weight', 'bias'):
                out[k] = f'mask_head.basis.bases.{rest}'
            continue
        pre = (
            f'mask_head.basis.tower.{t}' if t < n else 'mask_head.basis.head.0'
        )
        if rest == '0.weight':
            out[k] = f'{pre}.conv.weight'
        elif rest.startswith('1.'):
            mapped = _map_norm(f'{pre}.bn', rest[2:])
            if mapped:
                out[k] = mapped
    return out


def reorder_semantic_rows(t: Tensor) -> Tensor:
    """AdelaiDet's ``[bg, c_0, ..., c_{C-1}]`` rows -> mmblend's
    ``[c_0, ..., c_{C-1}, bg]`` (dim 0 of ``[C+1, ...]``)."""
    return torch.cat([t[1:], t[:1]], dim=0)


def convert(
    src: Dict[str, Tensor], target: Dict[str, Tensor]
) -> Tuple[Dict[str, Tensor], List[str]]:
    """Convert ``src`` (AdelaiDet keys) to the keys of ``target``.

    Args:
        src: AdelaiDet state dict.
        target: the mmblend model's state dict (keys, shapes and dtypes;
            values are not used).

    Returns:
        ``(state_dict, notes)``: the converted state dict, with exactly the
        keys of ``target``, and human-readable notes on what was filled.

    Raises:
        ConversionError: unknown AdelaiDet keys, mmblend keys left without a
            value, or shape mismatches, each listed.
    """
    out, origin = _rename(src)
    notes = _fill_missing(out, target)
    missing = [k for k in target if k not in out]
    extra = [k for k in out if k not in target]
    if missing or extra:
        msg = []
        if missing:
            msg.append(
                f'{len(missing)} keys of the config\'s model get no '
                f'value: {_first(missing)}'
            )
        if extra:
            msg.append(
                f'{len(extra)} converted keys are not in the '
                f'config\'s model: {_first(extra)} (from '
                f'{_first([origin[k] for k in extra if k in origin])})'
            )
        raise ConversionError('; '.join(msg))
    bad = []
    for k, v in out.items():
        want = target[k]
        if k.startswith('bbox_head.scales.') and v.numel() == 1:
            v = v.reshape(want.shape)
        if tuple(v.shape) != tuple(want.shape):
            bad.append(
                f'{origin.get(k, k)} {tuple(v.shape)} -> {k} '
                f'{tuple(want.shape)}'
            )
        out[k] = v.to(want.dtype)
    if bad:
        raise ConversionError(f'{len(bad)} shape mismatches: {_first(bad)}')
    return OrderedDict((k, out[k]) for k in target), notes


def _rename(
    src: Dict[str, Tensor],
) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """``(out, origin)``: ``src``'s tensors under their mmblend keys (the
    semantic logits' rows reordered) and the AdelaiDet key of each."""
    tower_map = _basis_tower_keys(src)
    levels = [
        int(m.group(1))
        for m in (
            re.fullmatch(r'backbone\.fpn_lateral(\d)\.weight', k) for k in src
        )
        if m
    ]
    fpn_min_level = min(levels) if levels else 3
    out = OrderedDict()
    unknown, origin = [], {}
    for k, v in src.items():
        new = tower_map.get(k) or map_key(k, fpn_min_level)
        if new is None:
            unknown.append(k)
            continue
        if new in origin:
            raise ConversionError(
                f'{origin[new]!r} and {k!r} both map to {new!r} (e.g. both '
                'ctrness and centerness keys)'
            )
        origin[new] = k
        if new.startswith(
            ('mask_head.basis.sem_logits.', 'semantic_head.conv_logits.')
        ):
            v = reorder_semantic_rows(v)
        out[new] = v
    if unknown:
        raise ConversionError(
            f'{len(unknown)} AdelaiDet keys have no mmblend counterpart '
            f'(unsupported layout or model): {_first(unknown)}'
        )
    return out, origin


def _fill_missing(
    out: Dict[str, Tensor], target: Dict[str, Tensor]
) -> List[str]:
    """Fill the keys of ``target`` that detectron2 models lack (BN
    ``num_batches_tracked``, FCOS scales) in ``out``; the notes on them."""
    notes, filled_nbt, filled_scale = [], [], []
    for k in target:
        if k in out:
            continue
        if k.endswith('num_batches_tracked'):
            out[k] = torch.zeros_like(target[k])
            filled_nbt.append(k)
        elif re.fullmatch(r'bbox_head\.scales\.\d+\.scale', k):
            out[k] = torch.ones_like(target[k])
            filled_scale.append(k)
    if filled_nbt:
        notes.append(
            f'filled {len(filled_nbt)} BN num_batches_tracked with '
            '0 (detectron2 FrozenBatchNorm2d has none)'
        )
    if filled_scale:
        notes.append(
            f'set {len(filled_scale)} per-level FCOS scales to 1.0 '
            '(FCOS.USE_SCALE False in AdelaiDet\'s BlendMask)'
        )
    return notes


def _first(items: Sequence[str], n: int = 8) -> str:
    items = list(items)
    more = f' ... (+{len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


# ------------------------------------------------------------ the model
def build_target(config: str):
    """``(model, classes)`` of an mmblend config, on CPU, not initialised
    from pretrained weights."""
    from mmdet.registry import DATASETS, MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import mmblend  # noqa: F401

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    ds = cfg.get('test_dataloader', {}).get('dataset', {})
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is None and ds.get('type'):
        classes = DATASETS.get(ds['type']).METAINFO['classes']
    return model, tuple(classes) if classes is not None else None


def dataset_meta(config: str, classes: Optional[tuple]) -> dict:
    """``meta['dataset_meta']`` of the written checkpoint: the class names
    and, for panoptic datasets, the thing/stuff split."""
    from mmdet.registry import DATASETS
    from mmengine.config import Config

    meta = dict(classes=classes)
    ds = Config.fromfile(config).get('test_dataloader', {}).get('dataset', {})
    if ds.get('type') and not (ds.get('metainfo') or {}):
        info = DATASETS.get(ds['type']).METAINFO
        for key in ('thing_classes', 'stuff_classes'):
            if key in info:
                meta[key] = tuple(info[key])
    return meta


def convert_file(
    src_path: str,
    out_path: str,
    config: Optional[str] = None,
    verbose: bool = True,
) -> dict:
    """Convert ``src_path`` to ``out_path`` for ``config`` (chosen from the
    keys when None); returns the written checkpoint."""
    src = load_source(src_path)
    info = describe(src)
    if config is None:
        config = pick_config(info)
    if not osp.isfile(config):
        raise ConversionError(f'config {config!r} does not exist')
    model, classes = build_target(config)
    target = model.state_dict()
    try:
        state_dict, notes = convert(src, target)
    except ConversionError as e:
        raise ConversionError(
            f'{src_path} ({summary(info)}) does not match {config}: {e}'
        ) from None
    num_classes = model.bbox_head.num_classes
    sem_head = getattr(model, 'semantic_head', None)
    if sem_head is not None:  # panoptic: things + stuff
        num_classes += sem_head.num_stuff_classes
    if classes is not None and len(classes) != num_classes:
        raise ConversionError(
            f'{config}: the dataset has {len(classes)} classes but the '
            f'model predicts {num_classes}'
        )
    model.load_state_dict(state_dict, strict=True)
    ckpt = dict(
        state_dict=state_dict,
        meta=dict(
            dataset_meta=dataset_meta(config, classes),
            converted_from=osp.basename(src_path),
            converter='tools/model_converters/adelaidet2mmblend.py',
            config=osp.relpath(config, REPO_ROOT)
            if osp.abspath(config).startswith(REPO_ROOT)
            else config,
        ),
    )
    torch.save(ckpt, out_path)
    if verbose:
        print(f'{src_path}: {summary(info)}, {len(src)} tensors')
        for n in notes:
            print(f'  {n}')
        print(
            '  semantic head: logits rows reordered (background 0 -> C)'
            if info['semantic']
            else '  no semantic head'
        )
        if info['panoptic']:
            print('  panoptic head: logits rows reordered (things 0 -> 53)')
        print(f'wrote {out_path} ({len(state_dict)} tensors) for {config}')
    return ckpt


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='Convert an AdelaiDet BlendMask checkpoint to mmblend.'
    )
    parser.add_argument('src', help='AdelaiDet checkpoint (.pth or .pkl)')
    parser.add_argument('dst', help='output mmblend checkpoint (.pth)')
    parser.add_argument(
        '--config',
        default=None,
        help='mmblend config the result must load into (default: the '
        'configs/adelaidet_zoo/ config matching the checkpoint)',
    )
    args = parser.parse_args(argv)
    try:
        convert_file(args.src, args.dst, args.config)
    except ConversionError as e:
        print(f'adelaidet2mmblend: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
