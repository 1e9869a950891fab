"""Test-wide set-up: mmdet's registries with mmdet as the default scope (as
mmdet's own tools do) and mmblend's modules registered."""
import faulthandler
import os

import pytest
from mmdet.utils import register_all_modules

import mmblend  # noqa: F401

register_all_modules(init_default_scope=True)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """With ``MMBLEND_CRASH_LOG`` set (.ci/run sets it), a crash of the test
    process (e.g. a segmentation fault in a native library) writes every
    thread's Python traceback to that file, which .ci/run prints."""
    path = os.environ.get('MMBLEND_CRASH_LOG')
    if path:
        config._mmblend_crash_log = open(path, 'w')
        faulthandler.enable(config._mmblend_crash_log, all_threads=True)
