from .blend_host_mixin import (
    AnchorPositivesMixin,
    BlendHostMixin,
    PointPositivesMixin,
)
from .blend_hosts import (
    BlendATSSHead,
    BlendFCOSHead,
    BlendGFLHead,
    BlendRetinaHead,
)
from .blendmask_head import BlendMaskHead
from .blendmask_mask_head import BlendMaskMaskHead, paste_masks

__all__ = [
    'AnchorPositivesMixin', 'BlendATSSHead', 'BlendFCOSHead', 'BlendGFLHead',
    'BlendHostMixin', 'BlendMaskHead', 'BlendMaskMaskHead', 'BlendRetinaHead',
    'PointPositivesMixin', 'paste_masks'
]
