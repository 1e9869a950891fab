"""Test-wide set-up: mmdet's registries with mmdet as the default scope (as
mmdet's own tools do) and mmblend's modules registered."""

import faulthandler
import os
import sys
import uuid

import pytest
from mmdet.utils import register_all_modules
from mmengine.registry import DefaultScope

import mmblend  # noqa: F401

register_all_modules(init_default_scope=True)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """With ``MMBLEND_CRASH_LOG`` set (.ci/run sets it), a crash of the test
    process (e.g. a segmentation fault in a native library) writes every
    thread's Python traceback to that file, which .ci/run prints."""
    path = os.environ.get('MMBLEND_CRASH_LOG')
    if path:  # appended to: pytest-xdist's workers share it
        config._mmblend_crash_log = open(path, 'a')
        faulthandler.enable(config._mmblend_crash_log, all_threads=True)
    if os.environ.get('PYTEST_XDIST_WORKER') and not os.environ.get(
        'OMP_NUM_THREADS'
    ):
        # `make test` runs one worker per core (pytest -n auto): one torch
        # thread each, not every worker as many threads as there are cores
        import torch

        torch.set_num_threads(1)


def pytest_runtest_logstart(nodeid, location):
    """With ``MMBLEND_CRASH_LOG`` set, ``<that path>.test`` holds the test
    that runs now: .ci/run names it when the process dies of a signal, even
    when the crash leaves no traceback (e.g. in a native thread)."""
    path = os.environ.get('MMBLEND_CRASH_LOG')
    if path:
        with open(path + '.test', 'w') as f:
            f.write(nodeid)


@pytest.fixture(autouse=True)
def no_openvino_in_process(request):
    """OpenVINO runs in a child process (tests/openvino_utils.py): run in
    the pytest process, it was followed by a crash of that process on an
    AVX2-only CPU (CI)."""
    yield
    assert 'openvino' not in sys.modules, (
        f'{request.node.nodeid} imported OpenVINO into the pytest process: '
        'run it through tests/openvino_utils.py'
    )


@pytest.fixture(autouse=True)
def mmdet_default_scope():
    """Each test starts in mmdet's default scope (as set above): a test
    that builds a runner leaves its scope current (mmengine's ``Runner``
    makes one, ``'mmengine'`` where the config names none), which would
    break registry builds of the tests after it in the same process."""
    if DefaultScope.get_current_instance().scope_name != 'mmdet':
        DefaultScope.get_instance(
            f'mmblend-tests-{uuid.uuid4().hex}', scope_name='mmdet'
        )
    yield


@pytest.fixture
def runner_info():
    """What a runner puts in the message hub before the first iteration:
    TOOD's assigner switch reads the epoch (and refuses a loop too short to
    switch), YOLOX's batch resize the iteration. For the modules that build
    and run models outside a runner (``pytestmark =
    pytest.mark.usefixtures('runner_info')``)."""
    from mmengine.logging import MessageHub

    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 0)
    hub.update_info('iter', 0)
    hub.runtime_info.pop('max_epochs', None)
    yield
    for key in ('epoch', 'iter'):
        hub.runtime_info.pop(key, None)
