"""``import mmblend`` changes exactly what docs/side_effects.md lists: it
replaces no registry entry, adds exactly the documented ones, and makes no
other process-wide change (checkpoint schemes, module aliases, rebound
attributes of modules loaded before) that the page does not name. Measured
in fresh interpreters by tests/compat/import_audit.py."""

import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from mmblend.compat.safe_load import weights_only_by_default

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AUDIT = osp.join(REPO, 'tests', 'compat', 'import_audit.py')
PAGE = osp.join(REPO, 'docs', 'side_effects.md')


def _run(*args):
    proc = subprocess.run(
        [sys.executable, AUDIT, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def audit():
    return _run('audit', *_run('deps'))


def _section(text, title):
    start = text.index(f'## {title}\n')
    end = text.find('\n## ', start + 1)
    return text[start : end if end > 0 else len(text)]


def documented():
    """``({registry: {names}}, {other backticked names})`` of the page."""
    with open(PAGE) as f:
        text = f.read()
    registry = {}
    for line in _section(text, 'Registry entries added').splitlines():
        m = re.match(r'^\| `(\w+::\w+)` \| (.+) \|$', line)
        if m:
            registry[m.group(1)] = set(re.findall(r'`(\w+)`', m.group(2)))
    other = set(
        re.findall(r'`([^`]+)`', _section(text, 'Other process-wide changes'))
    )
    return registry, other


def test_nothing_is_replaced(audit):
    replaced = {
        k: v['replaced'] for k, v in audit['registry'].items() if v['replaced']
    }
    assert not replaced, (
        f'import mmblend replaces registry entries {replaced}: register '
        'under a name of its own'
    )


def test_registry_additions_are_the_documented_ones(audit):
    added = {
        k: set(v['added']) for k, v in audit['registry'].items() if v['added']
    }
    registry, _ = documented()
    assert added == registry, (
        'docs/side_effects.md "Registry entries added" differs from what '
        f'import mmblend registers: {added}'
    )


def test_other_changes_are_documented(audit):
    _, other = documented()
    assert audit['checkpoint_schemes'] == ['efficientnet-lite://']
    changes = (
        audit['checkpoint_schemes']
        + audit['module_aliases']
        + audit['rebound']
    )
    undocumented = sorted(set(changes) - other)
    assert not undocumented, (
        f'import mmblend changes {undocumented}, which docs/side_effects.md '
        '"Other process-wide changes" does not list'
    )
    # the allowlist shim ran (a change by mutation, named on the page)
    # where torch needs it (>= 2.6); older torch gets no allowlist
    if weights_only_by_default():
        assert audit['safe_globals'] > 0
    else:
        assert audit['safe_globals'] == 0


def test_the_audit_sees_a_replacement(tmp_path):
    """Negative control: a package registering a module under mmcv's name in
    mmdet's scope (what mmblend's loader did) is reported as replacing it."""
    fake = tmp_path / 'mmblend'
    fake.mkdir()
    (fake / '__init__.py').write_text(
        'from mmcv.transforms import LoadImageFromFile\n'
        'from mmdet.registry import TRANSFORMS\n'
        '@TRANSFORMS.register_module(name="LoadImageFromFile")\n'
        'class Mine(LoadImageFromFile):\n    pass\n'
    )
    proc = subprocess.run(
        [sys.executable, AUDIT, 'audit'],
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['registry'] == {
        'mmdet::transform': dict(
            added=['LoadImageFromFile'], replaced=['LoadImageFromFile']
        )
    }
