"""mmblend: BlendMask for MMDetection 3.x.

Importing this package (configs do it through
``custom_imports = dict(imports=['mmblend'])``) first applies the environment
shims of :mod:`mmblend.compat` (safe checkpoint loading, the ``panopticapi``
fallback, the lvis numpy-2 shim; in that order, documented there), then
registers every mmblend module in mmdet's and mmengine's registries
(visualisers included), each under a name of its own (and the new
checkpoint scheme ``efficientnet-lite://`` in mmengine's
``CheckpointLoader``). Nothing else in mmblend changes anything outside
mmblend at import time; the complete list is docs/side_effects.md (checked
by ``tests/compat/test_import_side_effects.py``).
"""

from . import compat
from .version import __version__

compat.apply_all()

from . import (  # noqa: E402,F401
    datasets,
    engine,
    evaluation,
    models,
    visualization,
)

__all__ = ['__version__']
