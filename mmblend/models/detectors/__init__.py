from .blendmask import BlendMask
from .blendmask_panoptic import BlendMaskPanoptic

__all__ = ['BlendMask', 'BlendMaskPanoptic']
