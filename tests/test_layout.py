"""Every module of mmblend/ has a test file that mirrors its path
(``mmblend/a/b.py`` -> ``tests/a/test_b.py``), so that the tests of a module
are found where its path says; the few exceptions are listed with their
reason."""

import os.path as osp
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: modules without a mirror file of their own, and why
NO_MIRROR = {
    # package files: re-exports and registration (listed and checked by
    # tests/compat/test_import_side_effects.py); compat/__init__.py's order
    # of the process-wide changes: tests/compat/test_order.py
    '__init__.py': 'tests/compat/test_import_side_effects.py',
    # a drop-in for an upstream package, tested as that package's API
    'compat/panopticapi/': 'tests/compat/test_panopticapi.py',
}


def mirror(module: Path) -> Path:
    """``tests/<dir>/test_<name>.py`` of ``mmblend/<dir>/<name>.py``."""
    rel = module.relative_to(REPO / 'mmblend')
    return REPO / 'tests' / rel.parent / f'test_{rel.name}'


def exempt(module: Path) -> bool:
    rel = module.relative_to(REPO / 'mmblend').as_posix()
    return module.name in NO_MIRROR or any(
        rel.startswith(k) for k in NO_MIRROR if k.endswith('/')
    )


def test_every_module_has_a_mirror_test_file():
    modules = sorted((REPO / 'mmblend').rglob('*.py'))
    assert len(modules) > 50
    missing = [
        m.relative_to(REPO).as_posix()
        for m in modules
        if not exempt(m) and not mirror(m).is_file()
    ]
    assert not missing, (
        'modules without a test file at their mirror path (mmblend/a/b.py '
        '-> tests/a/test_b.py): '
        + ', '.join(
            f'{m} -> {mirror(REPO / m).relative_to(REPO)}' for m in missing
        )
    )


def test_exemptions_are_still_needed():
    for key, reason in NO_MIRROR.items():
        if key.endswith('/'):
            assert (REPO / 'mmblend' / key).is_dir(), key
        if reason.startswith('tests/'):
            assert osp.isfile(REPO / reason), reason
