from .blend_dino import BlendDeformableDETR, BlendDINO
from .blendmask import BlendMask
from .blendmask_panoptic import BlendMaskPanoptic

__all__ = [
    'BlendDeformableDETR',
    'BlendDINO',
    'BlendMask',
    'BlendMaskPanoptic',
]
