"""Known answers of arrays.resize: a part of a resize computed from the part of the source under it equals the same
part of OpenCV's resize of the whole (what lets step 8 label a large raster by windows as a whole-image run)."""

import cv2
import numpy as np
import pytest

from dl_tools.arrays.resize import area_resized_to_uint8, area_weights, linear_weights, resize_part


def _source(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize(("source", "target", "rows", "cols"), [
    ((601, 733), (250, 391), (40, 117), (0, 391)),     # odd factors, a band touching the left and right edges
    ((600, 700), (300, 350), (0, 300), (13, 14)),     # factor 2, a single column
    ((517, 389), (517, 200), (100, 517), (50, 150)),  # one axis unchanged, a part reaching the bottom edge
])
def test_a_part_of_an_area_resize_equals_opencv_on_the_whole(dtype, source, target, rows, cols):
    image = _source(source + (3,), dtype)
    whole = cv2.resize(image, target[::-1], interpolation=cv2.INTER_AREA)
    down_rows, down_cols = area_weights(source[0], target[0], *rows), area_weights(source[1], target[1], *cols)
    part = resize_part(image[down_rows[1]:, down_cols[1]:], down_rows, down_cols)
    expected = whole[rows[0]:rows[1], cols[0]:cols[1]]
    assert part.dtype == np.float32 and part.shape == expected.shape
    if dtype == np.uint8:  # OpenCV rounds to whole grey levels (halves up on its integer path, for factor 2)
        assert np.array_equal(area_resized_to_uint8(part, source, target), expected)
    else:
        np.testing.assert_allclose(part, expected, rtol=0, atol=1e-3)


def test_a_part_of_a_bilinear_upsizing_equals_opencv_on_the_whole():
    probs = np.random.default_rng(1).random((97, 131, 4)).astype(np.float32)
    whole = cv2.resize(probs, (400, 300), interpolation=cv2.INTER_LINEAR)
    rows, cols = (0, 123), (250, 400)
    back_rows, back_cols = linear_weights(97, 300, *rows), linear_weights(131, 400, *cols)
    part = resize_part(probs[back_rows[1]:, back_cols[1]:], back_rows, back_cols)
    np.testing.assert_allclose(part, whole[rows[0]:rows[1], cols[0]:cols[1]], rtol=0, atol=1e-6)


def test_weights_sum_to_one_and_a_constant_image_stays_constant():
    for weights, _ in (area_weights(1000, 357, 10, 300), linear_weights(357, 1000, 0, 1000)):
        np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    image = np.full((1000, 800, 2), 7, np.uint8)
    part = resize_part(image, area_weights(1000, 357, 10, 300), area_weights(800, 123, 0, 123))
    np.testing.assert_allclose(part, 7.0, atol=1e-4)


def test_an_identity_resize_returns_the_part_unchanged():
    image = _source((40, 30, 3), np.uint8)
    part = resize_part(image[5:], area_weights(40, 40, 5, 25), area_weights(30, 30, 0, 30))
    assert np.array_equal(part, image[5:25].astype(np.float32))
