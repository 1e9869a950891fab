"""What ``import mmblend`` changes outside mmblend, measured in a fresh
interpreter (run by tests/compat/test_import_side_effects.py).

``python import_audit.py deps`` prints the modules outside mmblend that
``import mmblend`` imports. ``python import_audit.py audit MODULE...`` first
imports those modules (and registers all of mmdet's modules, as mmdet's
tools do), takes a snapshot, imports mmblend and prints, as JSON, what
changed:

* ``registry``: ``{'scope::name': {'added': [...], 'replaced': [...]}}``
  for every registry reachable from mmengine's root registries. An entry is
  *replaced* when the name already meant another object in that registry or
  in one of its parents (a child registry's entry shadows the parent's in
  the child's scope);
* ``checkpoint_schemes``: prefixes added to mmengine's ``CheckpointLoader``;
* ``module_aliases``: ``sys.modules`` keys added whose module is another
  module under that name (e.g. a fallback package);
* ``rebound``: ``module.attribute`` of modules outside mmblend that existed
  before and now name another object;
* ``safe_globals``: how many entries were added to torch's
  ``weights_only`` allowlist (0 on a torch without
  ``torch.serialization.get_safe_globals``, e.g. 2.1).
"""

import importlib
import json
import sys
import types


def _outside(name: str) -> bool:
    return name != 'mmblend' and not name.startswith('mmblend.')


def deps() -> None:
    before = set(sys.modules)
    import mmblend  # noqa: F401

    print(
        json.dumps(
            sorted(
                n
                for n in set(sys.modules) - before
                if _outside(n) and getattr(sys.modules[n], '__name__', n) == n
            )
        )
    )


def _registries() -> dict:
    import mmengine.registry as roots
    from mmengine.registry import Registry

    out = {}

    def walk(reg):
        out[f'{reg.scope}::{reg.name}'] = reg
        for child in reg.children.values():
            walk(child)

    for reg in vars(roots).values():
        if isinstance(reg, Registry):
            walk(reg)
    return out


def _attrs(mod) -> dict:
    """A module's attributes, less dunders."""
    return {a: v for a, v in vars(mod).items() if not a.startswith('__')}


def _safe_globals() -> int:
    """Entries of torch's ``weights_only`` allowlist (0 where torch has no
    ``get_safe_globals``, e.g. 2.1)."""
    import torch

    get = getattr(torch.serialization, 'get_safe_globals', None)
    return 0 if get is None else len(get())


def _module_attrs() -> dict:
    """``{module name: attributes}`` of the loaded modules outside
    mmblend."""
    return {
        name: _attrs(mod)
        for name, mod in list(sys.modules.items())
        if _outside(name) and isinstance(mod, types.ModuleType)
    }


def audit(modules) -> None:
    from mmdet.utils import register_all_modules

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (optional parts of packages)
            pass
    register_all_modules(init_default_scope=False)
    from mmengine.runner import CheckpointLoader

    regs = _registries()
    entries = {k: dict(r._module_dict) for k, r in regs.items()}
    schemes = set(CheckpointLoader._schemes)
    mods = set(sys.modules)
    attrs = _module_attrs()
    safe = _safe_globals()

    import mmblend  # noqa: F401

    registry = {}
    for key, reg in _registries().items():
        old = entries.get(key, {})
        added = sorted(set(reg._module_dict) - set(old))
        replaced = sorted(
            n
            for n, obj in reg._module_dict.items()
            if (n in old and old[n] is not obj)
            or (
                n not in old
                and reg.parent is not None
                and reg.parent.get(n) is not None
            )
        )
        if added or replaced:
            registry[key] = dict(added=added, replaced=replaced)
    rebound = sorted(
        f'{name}.{a}'
        for name, before in attrs.items()
        if name in sys.modules
        for a, value in _attrs(sys.modules[name]).items()
        if a in before and before[a] is not value
    )
    print(
        json.dumps(
            dict(
                registry=registry,
                checkpoint_schemes=sorted(
                    set(CheckpointLoader._schemes) - schemes
                ),
                module_aliases=sorted(
                    n
                    for n in set(sys.modules) - mods
                    if _outside(n)
                    and getattr(sys.modules[n], '__name__', n) != n
                ),
                rebound=rebound,
                safe_globals=_safe_globals() - safe,
            )
        )
    )


if __name__ == '__main__':
    if sys.argv[1] == 'deps':
        deps()
    else:
        audit(sys.argv[2:])
