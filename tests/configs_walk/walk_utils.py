"""Helpers for the config walk: finding configs, shrinking, flattening."""

import ast
import copy
import os.path as osp
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO / 'configs'


def renamed_target(path: Path) -> Optional[Path]:
    """The config that ``path`` names if ``path`` is the old name of a
    renamed config (configs/README.md, "Names"), else ``None``. Such a stub
    is exactly ``_base_ = '<new name>'``, ``import warnings`` and one
    ``warnings.warn(...)``; this is the one place that recognises it."""
    body = ast.parse(path.read_text()).body
    if [type(node) for node in body] != [ast.Assign, ast.Import, ast.Expr]:
        return None
    base, imp, warn = body
    func = getattr(warn.value, 'func', None)
    if not (
        isinstance(base.targets[0], ast.Name)
        and base.targets[0].id == '_base_'
        and isinstance(base.value, ast.Constant)
        and [a.name for a in imp.names] == ['warnings']
        and isinstance(func, ast.Attribute)
        and func.attr == 'warn'
        and getattr(func.value, 'id', None) == 'warnings'
    ):
        return None
    return (path.parent / base.value.value).resolve()


def renamed_stubs() -> Dict[Path, Path]:
    """Every old config name kept for one release -> the config it names."""
    stubs = {}
    for p in sorted(CONFIG_ROOT.rglob('*.py')):
        target = renamed_target(p)
        if target is not None:
            stubs[p] = target
    return stubs


def all_configs() -> List[Path]:
    """Every runnable config: ``configs/**/*.py`` outside ``_base_`` dirs,
    without the old names of renamed configs (:func:`renamed_target`)."""
    return sorted(
        p
        for p in CONFIG_ROOT.rglob('*.py')
        if '_base_' not in p.relative_to(CONFIG_ROOT).parts
        and p.name != '__init__.py'
        and renamed_target(p) is None
    )


def config_id(path: Path) -> str:
    return str(path.relative_to(CONFIG_ROOT))


def strip_pretrained(cfg: Any) -> Any:
    """Drop every ``init_cfg`` that loads weights (``Pretrained``), at any
    depth of a (plain-dict) model config, so that nothing is downloaded."""
    if isinstance(cfg, dict):
        out = {}
        for k, v in cfg.items():
            if k == 'init_cfg' and _loads_weights(v):
                out[k] = None
            elif k == 'pretrained' and isinstance(v, str):
                out[k] = None
            else:
                out[k] = strip_pretrained(v)
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(strip_pretrained(v) for v in cfg)
    return cfg


def _loads_weights(init_cfg) -> bool:
    if isinstance(init_cfg, dict):
        return init_cfg.get('type') == 'Pretrained' or 'checkpoint' in init_cfg
    if isinstance(init_cfg, (list, tuple)):
        return any(_loads_weights(c) for c in init_cfg)
    return False


def zero_score_thr(cfg: Any) -> Any:
    """Set every ``score_thr`` of a test_cfg to 0 and every ``min_bbox_size``
    to -1 (an untrained model should still return detections so that the
    mask branch runs; an untrained RTMDet may decode only empty boxes)."""
    keep_all = dict(score_thr=0.0, min_bbox_size=-1)
    if isinstance(cfg, dict):
        return {k: keep_all.get(k, zero_score_thr(v)) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(zero_score_thr(v) for v in cfg)
    return cfg


def to_plain(obj: Any) -> Any:
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def flatten(obj: Any, prefix: str = '') -> Dict[str, Any]:
    """``{'a.b.0.c': leaf}`` for nested dicts/lists (lists by index)."""
    out = {}
    if isinstance(obj, dict):
        if not obj:
            out[prefix] = {}
        for k, v in obj.items():
            out.update(flatten(v, f'{prefix}.{k}' if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out[prefix] = []
        for i, v in enumerate(obj):
            out.update(flatten(v, f'{prefix}.{i}' if prefix else str(i)))
    else:
        out[prefix] = obj
    return out


# the parts of a config that define an experiment
SECTIONS = (
    'model',
    'train_cfg',
    'val_cfg',
    'test_cfg',
    'param_scheduler',
    'optim_wrapper',
    'auto_scale_lr',
    'train_dataloader',
    'val_dataloader',
    'test_dataloader',
    'val_evaluator',
    'test_evaluator',
)


def flat_config(cfg) -> Dict[str, Any]:
    flat = {}
    for sec in SECTIONS:
        if sec in cfg:
            flat.update(flatten(to_plain(cfg[sec]), sec))
    return flat


def changed_keys(a: Dict[str, Any], b: Dict[str, Any]) -> set:
    """Flattened keys added, removed or changed between two configs."""
    return {
        k for k in set(a) | set(b) if k not in a or k not in b or a[k] != b[k]
    }


def rel(path: str) -> str:
    return osp.join(str(CONFIG_ROOT), path)


__all__ = [
    'REPO',
    'CONFIG_ROOT',
    'all_configs',
    'renamed_stubs',
    'renamed_target',
    'config_id',
    'strip_pretrained',
    'zero_score_thr',
    'flat_config',
    'changed_keys',
    'rel',
    'copy',
]
