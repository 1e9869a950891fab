from .blend_dino_head import (
    BlendDeformableDETRHead,
    BlendDINOHead,
    BlendQueryHostMixin,
)
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
from .blendmask_head import BlendMaskHead
from .blendmask_mask_head import BlendMaskMaskHead, paste_masks

__all__ = [
    'BlendATSSHead', 'BlendDeformableDETRHead', 'BlendDINOHead',
    'BlendFCOSHead', 'BlendGFLHead', 'BlendHostMixin', 'BlendMaskHead',
    'BlendMaskMaskHead', 'BlendQueryHostMixin', 'BlendRTMDetHead',
    'BlendRTMDetSepBNHead', 'BlendRetinaHead', 'BlendTOODHead',
    'BlendYOLOXHead', 'PointPositivesMixin', 'SamplerPositivesMixin',
    'paste_masks'
]
