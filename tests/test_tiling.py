"""Tile grids, purity, cutting and stitching (dl_tools.arrays.tiling), and the thinning rule of retile."""

from __future__ import annotations

import numpy as np
import pytest

from dl_tools.arrays import tiling
from dl_tools.workflows.retile import thin


def test_origins_cover_whole_tiles_only():
    origins = tiling.tile_origins((100, 130), 32, 16)
    assert len(origins) == 5 * 7
    assert origins[0].tolist() == [0, 0] and origins[-1].tolist() == [64, 96]
    assert (origins + 32 <= [100, 130]).all()
    assert len(tiling.tile_origins((20, 20), 32, 16)) == 0
    with pytest.raises(ValueError):
        tiling.tile_origins((10, 10), 0, 1)


def test_class_counts_equal_brute_force():
    rng = np.random.default_rng(0)
    label_image = rng.integers(0, 4, (40, 50))
    origins = tiling.tile_origins(label_image.shape, 8, 5)
    counts = tiling.class_counts(label_image, origins, 8, 4)
    for (r, c), row in zip(origins, counts):
        assert row.tolist() == np.bincount(label_image[r:r + 8, c:c + 8].ravel(), minlength=4).tolist()


def test_purity_of_a_half_and_half_image():
    label_image = np.zeros((32, 64), int)
    label_image[:, 32:] = 1
    origins = np.array([[0, 0], [0, 16], [0, 24], [0, 32]])
    mode, share = tiling.tile_purity(label_image, origins, 32, 2)
    assert mode.tolist() == [0, 0, 1, 1]  # the 16/16 tie goes to the lower class
    assert share.tolist() == [1.0, 0.5, 0.75, 1.0]


def test_cut_then_stitch_gives_the_image_back():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (48, 80, 3)).astype(np.uint8)
    origins = tiling.tile_origins(image.shape, 16, 8)
    tiles = tiling.cut_tiles(image, origins, 16)
    assert tiles.shape == (len(origins), 16, 16, 3)
    mean, coverage = tiling.stitch(tiles, origins, 16, image.shape[:2])
    assert coverage.min() >= 1
    np.testing.assert_allclose(mean, image, atol=1e-4)


def test_stitch_averages_vectors_where_tiles_overlap():
    mean, coverage = tiling.stitch(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0, 0], [0, 4]]), 8, (8, 16))
    assert coverage[0].tolist() == [1] * 4 + [2] * 4 + [1] * 4 + [0] * 4
    assert mean[0, 5].tolist() == [0.5, 0.5] and mean[0, 15].tolist() == [0.0, 0.0]


def test_thinning_spares_small_classes_and_is_seeded():
    classes = np.array([0] * 200 + [1] * 70 + [2] * 30)
    mask = thin(classes, 0.5, 60, seed=3)
    assert [int(mask[classes == k].sum()) for k in range(3)] == [100, 60, 30]
    assert (thin(classes, 0.5, 60, seed=3) == mask).all()
    assert (thin(classes, 0.5, 60, seed=4) != mask).any()
    assert [int(thin(classes, 0.1, 0, 0)[classes == k].sum()) for k in range(3)] == [20, 7, 3]
