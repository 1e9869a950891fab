"""Loading a repository file as a module by its path, for the scripts and
test modules that are not importable by name (tools/ and tests/ are not
packages). Imported by plain name: tests/ is on sys.path through its
conftest.py."""

import importlib.util
import os.path as osp
import sys
from types import ModuleType

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_module(path: str, name: str, register: bool = False) -> ModuleType:
    """The module of the file ``path`` (absolute, or relative to the
    repository root), executed under ``name``. ``register`` also puts it in
    ``sys.modules`` first, as a multiprocessing pool that pickles its
    functions needs."""
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, str(path))
    )
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
