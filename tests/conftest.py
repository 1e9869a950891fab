"""Test-wide set-up: mmdet's registries with mmdet as the default scope (as
mmdet's own tools do) and mmblend's modules registered."""
from mmdet.utils import register_all_modules

import mmblend  # noqa: F401

register_all_modules(init_default_scope=True)
