from .blender import Blender
from .roi_pool import RoIPool

__all__ = ['Blender', 'RoIPool']
