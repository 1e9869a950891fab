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

__all__ = [
    'TILE', 'BlendInternals', 'blend_internals', 'draw_panel', 'load_image',
    'make_panel', 'Sample', 'class_colors', 'draw_comparison',
    'draw_instances', 'draw_legend', 'draw_prediction', 'place_labels',
    'save_figure'
]
