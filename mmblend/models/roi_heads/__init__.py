from .blend_cascade_roi_head import BlendCascadeRoIHead
from .blend_roi_head import BlendRoIHead
from .mask_heads import BlendRoIMaskHead

__all__ = ['BlendRoIHead', 'BlendCascadeRoIHead', 'BlendRoIMaskHead']
