"""Drop-in for ``panopticapi.utils`` (colour <-> segment-id encoding).

COCO panoptic PNGs store a segment id as RGB: ``id = R + 256 * G + 256**2 *
B``.
"""

import functools
import json
import traceback
from typing import Any, Callable, List, Union

import numpy as np

from .id_generator import IdGenerator

__all__ = ['rgb2id', 'id2rgb', 'IdGenerator', 'get_traceback', 'save_json']


def rgb2id(color: Union[np.ndarray, Any]) -> Union[np.ndarray, int]:
    """Convert an RGB image ``(H, W, 3)`` (or one colour) to segment ids.

    Args:
        color (np.ndarray | sequence): ``(H, W, 3)`` array in RGB order or a
            single ``(r, g, b)`` colour.

    Returns:
        np.ndarray | int: ``(H, W)`` id map (``uint8`` input is widened to
        ``int32``, other dtypes are kept) or a single int id.
    """
    if isinstance(color, np.ndarray) and len(color.shape) == 3:
        if color.dtype == np.uint8:
            color = color.astype(np.int32)
        return (
            color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]
        )
    return int(color[0] + 256 * color[1] + 256 * 256 * color[2])


def id2rgb(id_map: Union[np.ndarray, int]) -> Union[np.ndarray, List[int]]:
    """Convert segment ids to RGB colours (inverse of :func:`rgb2id`).

    Args:
        id_map (np.ndarray | int): id map of any shape, or one id.

    Returns:
        np.ndarray | list[int]: ``uint8`` array of shape ``id_map.shape +
        (3,)`` or a ``[r, g, b]`` list for a single id.
    """
    if isinstance(id_map, np.ndarray):
        id_map_copy = id_map.copy()
        rgb_map = np.zeros(tuple(id_map.shape) + (3,), dtype=np.uint8)
        for i in range(3):
            rgb_map[..., i] = id_map_copy % 256
            id_map_copy //= 256
        return rgb_map
    color = []
    id_value = int(id_map)
    for _ in range(3):
        color.append(id_value % 256)
        id_value //= 256
    return color


def get_traceback(f: Callable) -> Callable:
    """Decorator printing the traceback of an exception raised in ``f`` (used
    for worker processes, where it would otherwise be lost)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except Exception:
            print('Caught exception in worker thread:')
            traceback.print_exc()
            raise

    return wrapper


def save_json(d: Any, file: str) -> None:
    """Dump ``d`` as json to the path ``file``."""
    with open(file, 'w') as f:
        json.dump(d, f)
