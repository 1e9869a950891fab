from .bases_panel import (
    BlendInternals,
    blend_internals,
    draw_panel,
    load_image,
    make_panel,
)
from .keypoint_visualizer import KeypointDetLocalVisualizer

__all__ = [
    'BlendInternals', 'KeypointDetLocalVisualizer', 'blend_internals',
    'draw_panel', 'load_image', 'make_panel'
]
