from .blendmask_head import BlendMaskHead
from .blendmask_mask_head import BlendMaskMaskHead, paste_masks

__all__ = ['BlendMaskHead', 'BlendMaskMaskHead', 'paste_masks']
