"""``import mmblend`` applies the shims of mmblend.compat once, in the
documented order, before anything else of mmblend, mmdet or lvis is
imported; datasets/ does not import evaluation/."""

import ast
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import mmblend
from mmblend import compat
from mmblend.compat.safe_load import weights_only_by_default

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Run in a fresh interpreter: record, at the first import of each watched
# module, which shims had been applied and what they had done by then.
_PROBE = textwrap.dedent("""
    import importlib.abc, json, sys

    WATCH = ('mmdet', 'lvis', 'mmblend.datasets', 'mmblend.engine',
             'mmblend.evaluation', 'mmblend.models')
    events = []

    class Recorder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name in WATCH and name not in [e['module'] for e in events]:
                compat = sys.modules.get('mmblend.compat')
                safe = False
                g = sys.modules.get('mmblend.compat.safe_load')
                if g is not None and not g.weights_only_by_default():
                    safe = None  # torch < 2.6: no allowlist to register
                elif g is not None:
                    import torch
                    safe = any(
                        (e[0] if isinstance(e, tuple) else e)
                        is g.guarded_getattr
                        for e in torch.serialization.get_safe_globals())
                pan = sys.modules.get('panopticapi')
                events.append(dict(
                    module=name,
                    applied=list(compat.applied) if compat else None,
                    safe_globals=safe,
                    panopticapi=getattr(pan, '__name__', None)))
            return None

    sys.meta_path.insert(0, Recorder())
    import mmblend
    from mmblend import compat
    from mmblend.compat.panopticapi import real_panopticapi_available
    print(json.dumps(dict(events=events, applied=compat.applied,
                          real_panopticapi=real_panopticapi_available())))
""")


def _probe() -> dict:
    proc = subprocess.run(
        [sys.executable, '-c', _PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_shims_applied_first_in_documented_order():
    names = [name for name, _ in compat.SHIMS]
    assert names[0] == 'safe_load'
    assert names == ['safe_load', 'panopticapi', 'lvis_numpy']
    out = _probe()
    assert out['applied'] == names
    # the allowlist is registered (True), or not needed (None, torch < 2.6)
    safe = True if weights_only_by_default() else None
    events = {e['module']: e for e in out['events']}
    # mmdet and the rest of mmblend are imported (through mmblend) only
    # after every shim ran
    for mod in (
        'mmdet',
        'mmblend.datasets',
        'mmblend.engine',
        'mmblend.evaluation',
        'mmblend.models',
    ):
        assert mod in events, (mod, out['events'])
        assert events[mod]['applied'] == names, events[mod]
        assert events[mod]['safe_globals'] is safe, events[mod]
        if not out['real_panopticapi']:
            assert events[mod]['panopticapi'] == 'mmblend.compat.panopticapi'
    # lvis (imported by the third shim, if installed) finds the checkpoint
    # allowlist and the panopticapi alias already in place
    if 'lvis' in events:
        assert events['lvis']['applied'] == ['safe_load', 'panopticapi']
        assert events['lvis']['safe_globals'] is safe


def test_apply_all_runs_each_shim_once(monkeypatch):
    assert compat.applied == [name for name, _ in compat.SHIMS]
    calls = []
    monkeypatch.setattr(
        compat,
        'SHIMS',
        tuple(
            (name, lambda name=name: calls.append(name))
            for name, _ in compat.SHIMS
        ),
    )
    compat.apply_all()
    assert calls == []
    assert compat.applied == [name for name, _ in compat.SHIMS]


def _imports(path: str):
    """``(level, module, names)`` of every import statement in ``path``."""
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or '', [a.name for a in node.names]


def test_datasets_do_not_import_evaluation():
    root = osp.dirname(mmblend.datasets.__file__)
    files = [
        osp.join(d, f)
        for d, _, fs in os.walk(root)
        for f in fs
        if f.endswith('.py')
    ]
    assert files
    for path in files:
        rel = osp.relpath(osp.dirname(path), root)
        package = ['mmblend', 'datasets'] + (
            [] if rel == '.' else rel.split(osp.sep)
        )
        for level, module, names in _imports(path):
            if level:  # relative: resolve against the file's package
                base = '.'.join(package[: len(package) - (level - 1)])
                targets = (
                    [f'{base}.{module}']
                    if module
                    else [f'{base}.{n}' for n in names]
                )
            else:
                targets = [module]
            for target in targets:
                assert not target.startswith('mmblend.evaluation'), (
                    path,
                    target,
                )
