from .bases_panel import (
    TILE,
    BlendInternals,
    blend_internals,
    draw_panel,
    load_image,
    make_panel,
)
from .det_pictures import (
    Sample,
    class_colors,
    draw_comparison,
    draw_instances,
    draw_legend,
    draw_prediction,
    place_labels,
    save_figure,
)
from .keypoint_visualizer import KeypointDetLocalVisualizer

__all__ = [
    'TILE',
    'BlendInternals',
    'KeypointDetLocalVisualizer',
    'Sample',
    'blend_internals',
    'class_colors',
    'draw_comparison',
    'draw_instances',
    'draw_legend',
    'draw_panel',
    'draw_prediction',
    'load_image',
    'make_panel',
    'place_labels',
    'save_figure',
]
