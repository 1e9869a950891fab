from .blend_host_mixin import (
    BlendHostMixin,
    PointPositivesMixin,
    SamplerPositivesMixin,
)
from .blend_hosts import (
    BlendATSSHead,
    BlendFCOSHead,
    BlendGFLHead,
    BlendRetinaHead,
    BlendRTMDetHead,
    BlendRTMDetSepBNHead,
    BlendTOODHead,
    BlendYOLOXHead,
)
from .blend_keypoint_head import BlendKeypointHead
from .blendmask_head import BlendMaskHead
from .blendmask_mask_head import BlendMaskMaskHead, paste_masks

__all__ = [
    'BlendATSSHead', 'BlendFCOSHead', 'BlendGFLHead', 'BlendHostMixin',
    'BlendKeypointHead', 'BlendMaskHead', 'BlendMaskMaskHead',
    'BlendRTMDetHead', 'BlendRTMDetSepBNHead', 'BlendRetinaHead',
    'BlendTOODHead', 'BlendYOLOXHead', 'PointPositivesMixin',
    'SamplerPositivesMixin', 'paste_masks'
]
