"""A local storage backend that can stall in the middle of writing one file,
for the crash-safe checkpoint test (imported by the training process
through ``custom_imports``).

With ``MMBLEND_STALL_FILE=<name>`` and ``MMBLEND_STALL_MARKER=<path>`` in
the environment, ``put`` of a file whose name contains ``<name>`` writes the
first half of the bytes, flushes them, creates the marker file and sleeps
(the test kills the process there); every other write is LocalBackend's.
"""

import os
import os.path as osp
import time

from mmengine.fileio import LocalBackend, register_backend


@register_backend('stalling_local')
class StallingLocalBackend(LocalBackend):
    def put(self, obj: bytes, filepath) -> None:
        stall = os.environ.get('MMBLEND_STALL_FILE')
        if not stall or stall not in osp.basename(str(filepath)):
            return super().put(obj, filepath)
        with open(filepath, 'wb') as f:
            f.write(obj[: len(obj) // 2])
            f.flush()
            os.fsync(f.fileno())
            open(os.environ['MMBLEND_STALL_MARKER'], 'w').close()
            time.sleep(600)
            f.write(obj[len(obj) // 2 :])
