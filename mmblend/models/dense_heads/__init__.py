from .blend_host_mixin import (
    BlendHostMixin,
    PointPositivesMixin,
    SamplerPositivesMixin,
)
from .blend_hosts import (
    BlendATSSHead,
    BlendDDODHead,
    BlendFCOSHead,
    BlendGFLHead,
    BlendNASFCOSHead,
    BlendPISARetinaHead,
    BlendRetinaHead,
    BlendRetinaSepBNHead,
    BlendRTMDetHead,
    BlendRTMDetSepBNHead,
    BlendTOODHead,
    BlendVFNetHead,
    BlendYOLOFHead,
    BlendYOLOXHead,
)
from .blendmask_head import BlendMaskHead
from .blendmask_mask_head import BlendMaskMaskHead, paste_masks

__all__ = [
    'BlendATSSHead', 'BlendDDODHead', 'BlendFCOSHead', 'BlendGFLHead',
    'BlendHostMixin', 'BlendMaskHead', 'BlendMaskMaskHead',
    'BlendNASFCOSHead', 'BlendPISARetinaHead', 'BlendRTMDetHead',
    'BlendRTMDetSepBNHead', 'BlendRetinaHead', 'BlendRetinaSepBNHead',
    'BlendTOODHead', 'BlendVFNetHead', 'BlendYOLOFHead', 'BlendYOLOXHead',
    'PointPositivesMixin', 'SamplerPositivesMixin', 'paste_masks'
]
