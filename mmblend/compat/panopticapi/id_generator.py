"""Segment-id generator of ``panopticapi.utils``."""

from typing import Dict, List, Sequence, Tuple

import numpy as np


class IdGenerator:
    """Generate unique segment ids whose RGB encoding is close to the colour
    of their category (``panopticapi.utils.IdGenerator``).

    Stuff categories always get their category colour; the first instance of
    a thing category gets the category colour and later ones a random colour
    within +-30 of it per channel that is not taken yet.

    Args:
        categories (dict): ``{category_id: {'isthing': 0/1, 'color': [r, g,
            b]}}``.
    """

    def __init__(self, categories: Dict[int, dict]) -> None:
        self.taken_colors = {(0, 0, 0)}
        self.categories = categories
        for category in self.categories.values():
            if category['isthing'] == 0:
                self.taken_colors.add(tuple(category['color']))

    def get_color(self, cat_id: int) -> Sequence[int]:
        """Return a not-yet-used colour for a new segment of ``cat_id``."""
        category = self.categories[cat_id]
        if category['isthing'] == 0:
            return category['color']
        base_color_array = category['color']
        base_color = tuple(base_color_array)
        if base_color not in self.taken_colors:
            self.taken_colors.add(base_color)
            return base_color
        while True:
            new_color = np.asarray(base_color_array) + np.random.randint(
                low=-30, high=31, size=3
            )
            color = tuple(
                int(c) for c in np.maximum(0, np.minimum(255, new_color))
            )
            if color not in self.taken_colors:
                self.taken_colors.add(color)
                return color

    def get_id(self, cat_id: int) -> int:
        """Return a new segment id of category ``cat_id``."""
        from .utils import rgb2id

        return rgb2id(self.get_color(cat_id))

    def get_id_and_color(self, cat_id: int) -> Tuple[int, List[int]]:
        """Return a new segment id of ``cat_id`` and its colour."""
        from .utils import rgb2id

        color = self.get_color(cat_id)
        return rgb2id(color), color
