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
from .blend_keypoint_head import BlendKeypointHead
from .blendmask_head import BlendMaskHead
from .blendmask_mask_head import BlendMaskMaskHead, paste_masks

__all__ = [
    'BlendATSSHead',
    'BlendDDODHead',
    'BlendDINOHead',
    'BlendDeformableDETRHead',
    'BlendFCOSHead',
    'BlendGFLHead',
    'BlendHostMixin',
    'BlendKeypointHead',
    'BlendMaskHead',
    'BlendMaskMaskHead',
    'BlendNASFCOSHead',
    'BlendPISARetinaHead',
    'BlendQueryHostMixin',
    'BlendRTMDetHead',
    'BlendRTMDetSepBNHead',
    'BlendRetinaHead',
    'BlendRetinaSepBNHead',
    'BlendTOODHead',
    'BlendVFNetHead',
    'BlendYOLOFHead',
    'BlendYOLOXHead',
    'PointPositivesMixin',
    'SamplerPositivesMixin',
    'paste_masks',
]
