from .blend_roi_mask_head import BlendRoIMaskHead

__all__ = ['BlendRoIMaskHead']
