"""The labelling engine (dl_tools.labelling.engine): known answers on the quadrants image, shapes, bad strokes."""

from __future__ import annotations

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.labelling.engine import ENGINES, default_crf_params, label_from_strokes
from dl_tools.segmentation.crf import CRFParams, crf_from_labels, crf_from_probs, unary_from_sparse, upsample_argmax
from dl_tools.segmentation.pixel_classifier import ClassifierParams, stroke_samples


def few_strokes(truth: np.ndarray) -> np.ndarray:
    """One short horizontal stroke, 3 px thick, in the middle of each quadrant: about 2 % of the pixels."""
    sparse = np.zeros(truth.shape, np.uint8)
    for top, left in ((20, 30), (20, 90), (60, 30), (60, 90)):
        sparse[top - 1:top + 2, left - 15:left + 15] = truth[top, left] + 1
    return sparse


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_quadrants_recovered_from_a_few_strokes(quadrants, engine, scale):
    image, truth = quadrants
    label_image, probs = label_from_strokes(image, few_strokes(truth), 4, default_crf_params(engine, scale), engine,
                                            ClassifierParams(n_estimators=10))
    assert label_image.shape == truth.shape and label_image.dtype == np.uint8
    assert (label_image == truth).mean() > 0.97
    assert probs.shape == (round(80 * scale), round(120 * scale), 4)  # N channels: no phantom class
    assert np.allclose(probs.sum(axis=2), 1.0, atol=1e-3)


def test_exact_output_shape_for_odd_sizes_and_scales():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    probs = rng.random((37, 53, 2)).astype(np.float32)
    label_image, marginals = crf_from_probs(image, probs, CRFParams(scale=0.3, n_iter=2))
    assert label_image.shape == (37, 53)
    assert marginals.shape == (11, 16, 2)


def test_non_square_image_keeps_left_right_halves():
    """A tall image: the Gaussian kernel on a transposed grid (the legacy bug) would mix rows and columns."""
    image = np.zeros((90, 30, 3), np.uint8)
    image[:, 15:] = 200
    sparse = np.zeros((90, 30), np.uint8)
    sparse[40:50, 5] = 1
    sparse[40:50, 25] = 2
    params = CRFParams(theta_gaussian=3, compat_gaussian=3, n_iter=10, theta_color=10)
    label_image, _ = crf_from_labels(image, sparse, 2, params)
    assert (label_image[:, :15] == 0).all() and (label_image[:, 15:] == 1).all()


def test_black_pixels_are_not_strokes(quadrants):
    """Legacy bug: near-black pixels were read as class-1 strokes. Here only the sparse map counts."""
    image, truth = quadrants
    image = image.copy()
    image[40:, 60:] = 0  # a black quadrant
    label_image, _ = label_from_strokes(image, few_strokes(truth), 4, default_crf_params("strokes", 1.0), "strokes")
    assert (label_image[45:, 65:] == 3).mean() > 0.95


def test_unary_from_sparse_values():
    sparse = np.array([[0, 1], [3, 0]])
    probs = unary_from_sparse(sparse, 3, 0.5)
    assert probs.dtype == np.float32 and probs.shape == (2, 2, 3)
    np.testing.assert_allclose(probs[0, 0], 1 / 3)
    np.testing.assert_allclose(probs[0, 1], [0.5, 0.5 / 3, 0.5 / 3])
    np.testing.assert_allclose(probs[1, 0], [0.5 / 3, 0.5 / 3, 0.5])
    two = unary_from_sparse(np.array([[1, 2]]), 2, 0.5)  # two classes: strokes still count
    assert two[0, 0, 0] > two[0, 0, 1] and two[0, 1, 1] > two[0, 1, 0]


def test_upsample_argmax_matches_full_stack():
    import cv2

    rng = np.random.default_rng(2)
    probs = rng.random((7, 9, 5)).astype(np.float32)
    expected = np.argmax(cv2.resize(probs, (31, 23), interpolation=cv2.INTER_LINEAR), axis=2)
    np.testing.assert_array_equal(upsample_argmax(probs, (23, 31)), expected)


def test_stroke_samples_map_to_grid_and_drop_conflicts():
    sparse = np.zeros((10, 10), np.uint8)
    sparse[0, 0] = 1
    sparse[0, 1] = 2  # same 5x5 cell as (0, 0) at grid (2, 2): conflict, dropped
    sparse[9, 9] = 2
    rows, cols, classes = stroke_samples(sparse, (2, 2), 10, np.random.default_rng(0))
    assert list(zip(rows, cols, classes)) == [(1, 1, 1)]


def test_strokes_of_one_class_label_everything_with_it(quadrants):
    image, truth = quadrants
    sparse = np.zeros(truth.shape, np.uint8)
    sparse[10:12, 10:20] = 3
    label_image, _ = label_from_strokes(image, sparse, 4, default_crf_params("classifier", 1.0))
    assert (label_image == 2).all()


def test_flat_image_follows_stroke_positions():
    image = np.full((40, 60, 3), 128, np.uint8)
    sparse = np.zeros((40, 60), np.uint8)
    sparse[20, 5:10] = 1
    sparse[20, 50:55] = 2
    label_image, _ = label_from_strokes(image, sparse, 2, default_crf_params("classifier", 1.0), "classifier",
                                        ClassifierParams(n_estimators=5))
    assert (label_image[:, :20] == 0).all() and (label_image[:, 40:] == 1).all()


@pytest.mark.parametrize("sparse, message", [
    (np.zeros((10, 12), np.uint8), "differ in size"),
    (np.full((80, 120), 5, np.uint8), "value 5"),
    (np.zeros((80, 120), np.uint8), "no strokes"),
])
def test_bad_strokes(quadrants, sparse, message):
    image, _ = quadrants
    for engine in ENGINES:
        with pytest.raises(InputError, match=message):
            label_from_strokes(image, sparse, 4, CRFParams(), engine)


def test_bad_parameters():
    with pytest.raises(InputError, match="-s"):
        CRFParams(scale=0)
    with pytest.raises(InputError, match="-s"):
        CRFParams(scale=1.5)
    with pytest.raises(InputError, match="engine"):
        label_from_strokes(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.uint8), 1, CRFParams(), "magic")
