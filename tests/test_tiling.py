"""The tiling engine (dl_tools.arrays.tiling): window plans and their cores, cutting with mirrored padding,
blending, purity; and the thinning rule of retile."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from dl_tools.arrays import tiling
from dl_tools.workflows.retile import thin

ODD_SHAPES = [(1, 1), (7, 13), (101, 97)]
#: (size, stride): stride < size and stride = size, odd and even, a 1 px window
SIZES_STRIDES = [(1, 1), (4, 4), (5, 3), (16, 16), (16, 9), ((6, 11), (6, 4))]


def core_cover(plan: tiling.WindowPlan) -> np.ndarray:
    """(H, W) int: how many window cores hold each pixel; checks that each core lies in its window."""
    cover = np.zeros(plan.shape, int)
    for window in plan:
        rows, cols = window.core
        assert 0 <= rows.start < rows.stop <= window.height and 0 <= cols.start < cols.stop <= window.width
        cover[window.core_in_extent] += 1
    return cover


# --- window plans ----------------------------------------------------------------------------------------------------

def test_origins_cover_whole_tiles_only():
    plan = tiling.plan_windows((100, 130), 32, stride=16, edge="drop")
    origins = plan.origins
    assert len(origins) == 5 * 7
    assert origins[0].tolist() == [0, 0] and origins[-1].tolist() == [64, 96]
    assert (origins + 32 <= [100, 130]).all()
    assert len(tiling.plan_windows((20, 20), 32, stride=16, edge="drop")) == 0
    with pytest.raises(ValueError):
        tiling.plan_windows((10, 10), 0, stride=1)


@pytest.mark.parametrize("edge", ["inside", "mirror"])
@pytest.mark.parametrize("halo", [0, 2])
@pytest.mark.parametrize("size, stride", SIZES_STRIDES)
@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_cores_cover_every_pixel_exactly_once(shape, size, stride, halo, edge):
    plan = tiling.plan_windows(shape, size, stride=stride, halo=halo, edge=edge)
    assert (core_cover(plan) == 1).all()
    height, width = (size, size) if np.isscalar(size) else size
    assert plan.window_shape == (height + 2 * halo, width + 2 * halo)
    assert all(w.halo == halo and (w.height, w.width) == plan.window_shape for w in plan)


@pytest.mark.parametrize("halo", [0, 2])
@pytest.mark.parametrize("size, stride", SIZES_STRIDES + [(4, 7)])
@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_drop_keeps_whole_windows_and_cores_at_most_once(shape, size, stride, halo):
    plan = tiling.plan_windows(shape, size, stride=stride, halo=halo, edge="drop")
    assert all(window.inside(shape) for window in plan)
    assert core_cover(plan).max(initial=0) <= 1


@pytest.mark.parametrize("halo", [0, 3])
@pytest.mark.parametrize("size, stride", SIZES_STRIDES)
def test_edge_windows_never_stick_out(size, stride, halo):
    for shape in [(101, 97), (40, 41)]:
        plan = tiling.plan_windows(shape, size, stride=stride, halo=halo, edge="inside")
        assert all(window.inside(shape) for window in plan)
        for axis, starts in enumerate([plan.tops, plan.lefts]):
            starts, span, n = np.unique(starts), plan.window_shape[axis], shape[axis]
            block, step = span - 2 * halo, stride if np.isscalar(stride) else stride[axis]
            assert starts[0] == 0 and starts[-1] + span == n  # the last window shifted inside, not cut short
            assert plan.grid[axis] == -(-(n - block) // step) + 1  # as few windows as the stride allows
    small = tiling.plan_windows((5, 200), 16, stride=8, edge="inside")  # shorter than a window: one row at 0
    assert set(small.tops.tolist()) == {0} and not small[0].inside((5, 200))


def test_mirror_plan_is_a_grid_from_the_corner():
    plan = tiling.plan_windows((37, 53), 16, halo=3, edge="mirror")
    assert plan.grid == (3, 4)
    assert sorted(set(plan.tops.tolist())) == [-3, 13, 29] and sorted(set(plan.lefts.tolist())) == [-3, 13, 29, 45]
    assert plan[0].core == (slice(3, 19), slice(3, 19)) and plan[-1].core_in_extent == (slice(32, 37), slice(48, 53))


def test_inside_plan_spreads_windows_evenly():
    plan = tiling.plan_windows((300, 64), 64, overlap=0.25)  # stride 48 -> 6 windows spread over 0..236
    assert plan.tops.tolist() == [0, 47, 94, 142, 189, 236] and plan.lefts.tolist() == [0] * 6
    assert [w.core_in_extent[0] for w in plan][:2] == [slice(0, 55), slice(55, 102)]  # halfway through the overlap


def test_every_keeps_the_cores_of_the_windows_it_keeps():
    plan = tiling.plan_windows((100, 160), 10, edge="mirror")
    kept = plan.every(3)  # 10 x 16 windows -> rows 0, 3, 6, 9; cols 0, 3, .., 15
    assert len(kept) == 4 * 6 and kept.grid is None
    index = [r * 16 + c for r in (0, 3, 6, 9) for c in range(0, 16, 3)]
    assert (kept.cores == plan.cores[index]).all() and (kept.origins == plan.origins[index]).all()
    with pytest.raises(ValueError, match="whole plan"):
        kept.every(2)


def test_a_plan_of_a_huge_extent_is_small():
    tracemalloc.start()
    plan = tiling.plan_windows((40000, 40000), 1024, overlap=0.25, halo=64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2e6  # bytes: a few integers per window, never an (H, W) array
    n_rows, n_cols = plan.grid
    column, row = plan.cores[::n_cols], plan.cores[:n_cols]
    assert (column[:, 1] - column[:, 0]).sum() == 40000 and (row[:, 3] - row[:, 2]).sum() == 40000
    assert (column[1:, 0] == column[:-1, 1]).all() and (row[1:, 2] == row[:-1, 3]).all()
    assert all(window.inside((40000, 40000)) for window in plan[:: n_cols + 1])


@pytest.mark.parametrize("kwargs", [dict(size=0), dict(size=8, stride=9), dict(size=8, stride=4, overlap=0.5),
                                    dict(size=8, overlap=1.0), dict(size=8, halo=-1), dict(size=8, edge="wrap"),
                                    dict(size=(8, 8, 8))])
def test_bad_plan_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        tiling.plan_windows((30, 30), **kwargs)


# --- cutting ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mirror", ["reflect", "symmetric"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 6), (7, 13)])
def test_mirrored_padding_equals_numpy_pad(shape, mirror):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, shape + (3,)).astype(np.uint8)
    for pad in (1, 4, 17):  # also further than the image is wide
        padded = np.pad(image, [(pad, pad + 3), (pad, pad + 3), (0, 0)], mode=mirror)
        plan = tiling.plan_windows(shape, 3, halo=pad, edge="mirror")
        for window, tile in zip(plan, tiling.cut_windows(image, plan, mirror=mirror)):
            rows = slice(window.row + pad, window.row + pad + window.height)
            cols = slice(window.col + pad, window.col + pad + window.width)
            np.testing.assert_array_equal(tile, padded[rows, cols])
    # the hybrid's edge tiles reflect (no repeated edge pixel); FCN inference pads symmetrically
    assert tiling.mirror_index(3, 4, 5, "reflect").tolist() == [3, 4, 3, 2]
    assert tiling.mirror_index(3, 4, 5, "symmetric").tolist() == [3, 4, 4, 3]


def test_a_window_that_sticks_out_needs_a_mirror():
    plan = tiling.plan_windows((5, 6), 4, edge="mirror")
    with pytest.raises(ValueError, match="give a mirror"):
        tiling.cut_windows(np.zeros((5, 6, 3), np.uint8), plan)
    with pytest.raises(ValueError, match="mirror must be one of"):
        tiling.cut_windows(np.zeros((5, 6, 3), np.uint8), plan, mirror="wrap")


# --- blending --------------------------------------------------------------------------------------------------------

def test_cut_then_stitch_gives_the_image_back():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (48, 80, 3)).astype(np.uint8)
    plan = tiling.plan_windows(image.shape, 16, stride=8, edge="drop")
    tiles = tiling.cut_windows(image, plan)
    assert tiles.shape == (len(plan), 16, 16, 3)
    assert (core_cover(plan) == 1).all()
    np.testing.assert_allclose(tiling.blend(plan, tiles), image, atol=1e-4)


@pytest.mark.parametrize("shape", ODD_SHAPES + [(64, 40)])
@pytest.mark.parametrize("plan_kwargs", [dict(size=16, overlap=0.25), dict(size=(9, 5), stride=(4, 5), halo=2),
                                         dict(size=16, stride=7, edge="mirror"), dict(size=8, halo=3, edge="mirror")])
def test_cut_then_blend_returns_the_input(shape, plan_kwargs):
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), shape).astype(np.float32)  # (H, W, 4)
    plan = tiling.plan_windows(shape, **plan_kwargs)
    windows = tiling.cut_windows(probs, plan, mirror="symmetric")
    np.testing.assert_allclose(tiling.blend(plan, windows), probs, atol=1e-6)


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_blend_weights_sum_to_one(shape):
    plan = tiling.plan_windows(shape, (6, 9), stride=(4, 5), halo=1)
    one_hot = np.eye(len(plan), dtype=np.float32)  # window i says "class i" everywhere: the blend is its weight
    weights = tiling.blend(plan, (np.broadcast_to(row, plan.window_shape + row.shape) for row in one_hot))
    np.testing.assert_allclose(weights.sum(axis=2), 1.0, atol=1e-6)
    for i, window in enumerate(plan):
        _, extent = window.overlap(shape)
        inside = np.zeros(shape, bool)
        inside[extent] = True
        assert (weights[..., i][inside] > 0).all() and (weights[..., i][~inside] == 0).all()
    ramp = tiling.blend_weights((8, 10))
    assert ramp.shape == (8, 10) and ramp.min() > 0 and ramp.max() <= 1
    assert ramp[4, 5] > ramp[4, 0] and ramp[4, 5] > ramp[0, 5]  # highest at the centre


def test_stitch_averages_vectors_where_tiles_overlap():
    plan = tiling.plan_windows((8, 16), 8, stride=4, edge="drop")[:2]  # windows at cols 0 and 4; cols 12.. in none
    flat = tiling.blend(plan, [np.broadcast_to([1.0, 0.0], (8, 8, 2)), np.broadcast_to([0.0, 1.0], (8, 8, 2))],
                        floor=1.0)
    assert flat[0, :, 0].tolist() == [1.0] * 4 + [0.5] * 4 + [0.0] * 8
    assert flat[0, 5].tolist() == [0.5, 0.5] and flat[0, 15].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="1 probability windows for a plan of 2"):
        tiling.blend(plan, [np.zeros((8, 8, 2))])


def test_paint_cores_gives_each_pixel_its_window():
    plan = tiling.plan_windows((7, 13), 5, stride=3, halo=1, edge="mirror")
    painted = tiling.paint_cores(plan, np.arange(len(plan)), dtype=np.int64, fill=-1)
    for i, window in enumerate(plan):
        assert (painted[window.core_in_extent] == i).all()
    assert painted.min() == 0


# --- purity ----------------------------------------------------------------------------------------------------------

def test_class_counts_equal_brute_force():
    rng = np.random.default_rng(0)
    label_image = rng.integers(0, 4, (40, 50))
    plan = tiling.plan_windows(label_image.shape, 8, stride=5, edge="drop")
    counts = tiling.class_counts(label_image, plan, 4)
    for (r, c), row in zip(plan.origins, counts):
        assert row.tolist() == np.bincount(label_image[r:r + 8, c:c + 8].ravel(), minlength=4).tolist()


def test_purity_of_a_half_and_half_image():
    label_image = np.zeros((32, 64), int)
    label_image[:, 32:] = 1
    plan = tiling.plan_windows(label_image.shape, 32, stride=8, edge="drop")[[0, 2, 3, 4]]
    assert plan.origins.tolist() == [[0, 0], [0, 16], [0, 24], [0, 32]]
    mode, share = tiling.tile_purity(label_image, plan, 2)
    assert mode.tolist() == [0, 0, 1, 1]  # the 16/16 tie goes to the lower class
    assert share.tolist() == [1.0, 0.5, 0.75, 1.0]


def test_thinning_spares_small_classes_and_is_seeded():
    classes = np.array([0] * 200 + [1] * 70 + [2] * 30)
    mask = thin(classes, 0.5, 60, seed=3)
    assert [int(mask[classes == k].sum()) for k in range(3)] == [100, 60, 30]
    assert (thin(classes, 0.5, 60, seed=3) == mask).all()
    assert (thin(classes, 0.5, 60, seed=4) != mask).any()
    assert [int(thin(classes, 0.1, 0, 0)[classes == k].sum()) for k in range(3)] == [20, 7, 3]


def test_row_chunks_never_span_two_rows_of_windows():
    tops = np.array([0, 0, 0, 0, 0, 7, 7, 7, 9])
    chunks, starts = tiling.row_chunks(tops, 2)
    np.testing.assert_array_equal(chunks, [0, 0, 1, 1, 2, 3, 3, 4, 5])
    np.testing.assert_array_equal(starts, [0, 2, 4, 5, 7, 8, 9])
    chunks, starts = tiling.row_chunks(tops, 10)
    np.testing.assert_array_equal(chunks, [0, 0, 0, 0, 0, 1, 1, 1, 2])
    np.testing.assert_array_equal(starts, [0, 5, 8, 9])
    chunks, starts = tiling.row_chunks(np.zeros(0, np.int64), 4)
    assert chunks.shape == (0,) and list(starts) == [0]
