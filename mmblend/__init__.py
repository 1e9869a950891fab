"""mmblend: BlendMask for MMDetection 3.x.

Importing this package (configs do it through
``custom_imports = dict(imports=['mmblend'])``) registers every mmblend module
in mmdet's registries and activates the safe checkpoint-loading path.
"""
from .version import __version__
from . import utils  # noqa: F401  (safe checkpoint loading, first)
from . import datasets, engine, evaluation, models  # noqa: F401

__all__ = ['__version__']
