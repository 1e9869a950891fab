"""mmblend: BlendMask for MMDetection 3.x.

Install with ``make install`` (it installs torch 2.13.0 CPU and builds mmcv
2.1.0 with ops first); ``pip install -e .`` alone expects both to be present.
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
    include_package_data=True,
    python_requires='>=3.8',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={'tests': parse_requirements('tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)
