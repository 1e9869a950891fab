from .bases_panel import (
    BlendInternals,
    blend_internals,
    draw_panel,
    load_image,
    make_panel,
)

__all__ = [
    'BlendInternals', 'blend_internals', 'draw_panel', 'load_image',
    'make_panel'
]
