"""``pip install -e .`` puts the repository on ``sys.path`` with a ``.pth``
file (setup.py's ``package_dir``), so a folder named ``mmblend`` in the
working directory -- e.g. the clone itself, seen from its parent directory,
which has no ``__init__.py`` -- cannot hide the package: with setuptools'
default editable import hook it was imported as an empty namespace package,
``custom_imports=dict(imports=['mmblend'])`` raised nothing and the user got
``KeyError: 'BlendMask is not in the mmdet::model registry'``."""

import glob
import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PROBE = (
    'import site, sys; site.addsitedir(sys.argv[1]); import mmblend; '
    'print(mmblend.__file__)'
)


def test_a_folder_named_mmblend_does_not_hide_the_editable_install(tmp_path):
    prefix = tmp_path / 'prefix'
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'install',
            '-q',
            '--no-deps',
            # without it pip uninstalls the venv's own mmblend first
            '--ignore-installed',
            '--no-build-isolation',
            '--use-pep517',
            '--prefix',
            str(prefix),
            '-e',
            REPO_ROOT,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (site_dir,) = glob.glob(str(prefix / 'lib' / 'python*' / 'site-packages'))
    (pth,) = glob.glob(osp.join(site_dir, '__editable__.mmblend*.pth'))
    with open(pth) as f:
        assert f.read().strip() == REPO_ROOT  # a path, not an import hook
    # the user's directory: a folder named mmblend without __init__.py
    (tmp_path / 'work' / 'mmblend' / 'mmblend').mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, '-c', PROBE, site_dir],
        cwd=str(tmp_path / 'work'),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == osp.join(
        REPO_ROOT, 'mmblend', '__init__.py'
    )
