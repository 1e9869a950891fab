"""The panel's geometry helpers: a detection box as at least one whole
pixel inside the image, and R x R maps resized to the box (the panel on a
real photo and the command line: tests/tools/test_vis_bases.py)."""

import numpy as np

from mmblend.visualization.bases_panel import box_region, to_box


def test_box_region_inside_the_image_and_never_empty():
    assert box_region(np.array([10.4, 5.6, 20.2, 30.9]), 40, 50) == (
        10,
        5,
        21,
        31,
    )
    # clipped to the 40 x 50 image
    assert box_region(np.array([-5.0, -3.0, 80.0, 60.0]), 40, 50) == (
        0,
        0,
        50,
        40,
    )
    # degenerate (zero size, outside, inverted): one pixel at the border
    assert box_region(np.array([7.0, 7.0, 7.0, 7.0]), 40, 50) == (7, 7, 8, 8)
    assert box_region(np.array([60.0, 45.0, 70.0, 48.0]), 40, 50) == (
        49,
        39,
        50,
        40,
    )
    assert box_region(np.array([9.0, 9.0, 3.0, 3.0]), 40, 50) == (9, 9, 10, 10)


def test_to_box_resizes_the_last_two_dims():
    maps = np.zeros((2, 3, 4, 4), np.float32)
    maps[1, 2] = 1.0
    maps[0, 0, :, 2:] = 1.0  # right half
    out = to_box(maps, (6, 10))
    assert out.shape == (2, 3, 6, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 2], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[1, 0], 0.0)
    # the left half stays 0 and the right half 1 away from the edge
    np.testing.assert_allclose(out[0, 0, :, :3], 0.0)
    np.testing.assert_allclose(out[0, 0, :, 7:], 1.0, atol=1e-6)
