"""The version string: a PEP 440 version, the one ``mmblend.__version__``
exposes and the one setup.py's ``get_version()`` installs."""

import ast
import os.path as osp

from packaging.version import Version

import mmblend
from mmblend.version import __version__

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_version_is_pep440_and_the_installed_one():
    assert str(Version(__version__)) == __version__
    assert mmblend.__version__ == __version__
    # setup.py's get_version() alone (running setup.py would install)
    with open(osp.join(REPO, 'setup.py')) as f:
        tree = ast.parse(f.read())
    (fn,) = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name == 'get_version'
    ]
    scope = dict(osp=osp, HERE=REPO)
    exec(compile(ast.Module([fn], []), 'setup.py', 'exec'), scope)
    assert scope['get_version']() == __version__
