"""mmblend utilities.

Importing this package activates mmblend's safe checkpoint loading (see
:mod:`mmblend.utils.safe_load`), so mmengine/mmdet checkpoints load under
torch's default ``torch.load(weights_only=True)``.
"""
from .safe_load import guarded_getattr, register_safe_globals

register_safe_globals()

__all__ = ['guarded_getattr', 'register_safe_globals']
