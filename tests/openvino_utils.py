"""OpenVINO in a child process for the tests.

OpenVINO's CPU plugin brings its own oneDNN and TBB threads into the process
that loads it. Run in the pytest process, it was followed on CI's AVX2-only
CPU by a segmentation fault of that process a few tests later, while the
next test trained a model (it took the rest of the suite with it; never
seen on this AVX-512 machine). The tests therefore
run OpenVINO in one spawned child process per test session: it shares no
library state with the pytest process, and a crash there fails the test that
asked, naming OpenVINO.

``call(fn, *args)`` runs a module-level function there (pickled by name:
define it in an importable module, e.g. this one); arguments and results are
pickled (tensors, ``InstanceData``, paths).
"""

import concurrent.futures as cf
import importlib.util
import multiprocessing as mp
import os
from typing import List, Optional

_pool: Optional[cf.ProcessPoolExecutor] = None


def unavailable() -> Optional[str]:
    """Why OpenVINO cannot be checked in this run (None when it can)."""
    if importlib.util.find_spec('openvino') is None:
        return 'OpenVINO is not installed'
    if os.environ.get('ONEDNN_MAX_CPU_ISA'):
        # `make test-matrix` caps oneDNN's ISA to emulate an AVX2 CPU;
        # OpenVINO's CPU plugin crashes at its first inference under that cap
        return 'OpenVINO crashes under ONEDNN_MAX_CPU_ISA (test-matrix)'
    return None


def skip_if_unavailable() -> None:
    """Skip the calling test (or module) when :func:`unavailable`."""
    import pytest

    reason = unavailable()
    if reason:
        pytest.skip(reason, allow_module_level=True)


def _init() -> None:
    from mmdet.utils import register_all_modules

    import mmblend  # noqa: F401

    register_all_modules(init_default_scope=True)


def call(fn, *args):
    """``fn(*args)`` in the OpenVINO child process (started on first use)."""
    global _pool
    if _pool is None:
        _pool = cf.ProcessPoolExecutor(
            1, mp_context=mp.get_context('spawn'), initializer=_init
        )
    try:
        return _pool.submit(fn, *args).result()
    except cf.process.BrokenProcessPool as e:
        _pool = None
        raise RuntimeError(
            f'the OpenVINO child process died running {fn.__name__}'
        ) from e


def _detect(onnx_file: str, config: str, images: List[str]) -> list:
    from mmblend.deploy import OnnxDetector

    det = OnnxDetector(onnx_file, config, backend='openvino')
    return [det(img).pred_instances for img in images]


def detect(onnx_file: str, config: str, images: List[str]) -> list:
    """``OnnxDetector(onnx_file, config, backend='openvino')`` on each image
    (a path), in the child: each one's ``pred_instances``."""
    return call(_detect, onnx_file, config, images)
