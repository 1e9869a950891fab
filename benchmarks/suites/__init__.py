"""The suites of ``benchmarks/run.py``, one module each.

A suite module has

* a docstring whose first line says what it measures (``run.py --list``);
* ``ROUNDS``: its default ``--rounds``;
* ``TIMED``: True where its numbers are timings (a loaded run of a timed
  suite is never judged);
* ``add_arguments(parser)``: its own options;
* ``run(args) -> dict``: ``tables``, ``samples`` (key -> one value per
  round), ``values`` (key -> one number) and ``notes``, written by
  :func:`common.write_result`. ``args`` carries ``quick``, ``threads``,
  ``rounds``, ``device`` and ``out`` besides its own options.

Registering a suite: the module, its name in :data:`NAMES`, its claims in
``claims.py`` and a ``--quick`` test in ``tests/benchmarks/``.
"""

import importlib
from types import ModuleType

NAMES = (
    'blender',
    'inference',
    'train',
    'mixing',
    'rtmdet',
    'dino',
    'onnx',
    'accuracy',
    'keypoints',
    'keypoints_latency',
)


def load(name: str) -> ModuleType:
    if name not in NAMES:
        raise KeyError(
            f'unknown suite {name!r}; the suites are '
            f"{', '.join(NAMES)} (benchmarks/suites/__init__.py)"
        )
    return importlib.import_module(f'suites.{name}')
