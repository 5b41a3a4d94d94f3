"""Issue 20's safeguards of the CRF after a network: calibration (temperature), gating (confident pixels kept), the
choice of a run's CRF on its validation images, and that infer_crf.py uses the stored choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from change_counts_helpers import one_photo_carries_a_change, training_photos_against_the_first_change

from dl_tools.segmentation.calibration import apply_temperature, fit_temperature, gate_confident
from dl_tools.segmentation.crf import CRFParams
from dl_tools.segmentation.refine import NO_GATE, CRFChoice, Refinement, refine


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_temperature):
    """Classes drawn from softmax(z); the 'network' reports softmax(T0 z) (over-confident for T0 > 1). Fitting T
    on its reports and the drawn classes must give T0 (softmax(log p / T0) undoes it), within sampling error."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 2.0, (40_000, 4))
    truth = (rng.random(len(logits))[:, None] > np.cumsum(_softmax(logits), axis=1)).sum(axis=1)
    reported = _softmax(logits * true_temperature)
    assert fit_temperature(reported, truth) == pytest.approx(true_temperature, rel=0.05)


def test_apply_temperature_is_a_softmax_of_the_log_probabilities():
    probs = np.array([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25]], np.float32)
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, rtol=1e-5)
    soft = apply_temperature(probs, 2.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    expected = np.sqrt(probs) / np.sqrt(probs).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, expected, rtol=1e-5)
    np.testing.assert_array_equal(np.argmax(soft, axis=1), np.argmax(probs, axis=1))  # the order is kept
    with pytest.raises(ValueError):
        apply_temperature(probs, 0.0)


def test_fit_temperature_refuses_mismatched_shapes():
    with pytest.raises(ValueError):
        fit_temperature(np.full((3, 2), 0.5), np.zeros(4, int))


def test_the_gate_keeps_the_network_where_it_is_sure():
    network = np.array([[[0.96, 0.02, 0.02], [0.5, 0.3, 0.2]]], np.float32)
    refined = np.array([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    np.testing.assert_array_equal(gate_confident(network, refined, 0.95), [[network[0, 0], refined[0, 1]]])
    np.testing.assert_array_equal(gate_confident(network, refined, NO_GATE), refined)
    np.testing.assert_array_equal(gate_confident(network, refined, 0.5), network)


def _two_regions(seed=0):
    """A 40 x 60 image, left half dark, right half bright, and network probabilities: sure of class 0 on the left
    (0.97) except a stripe where it hesitates (0.45 / 0.55 towards class 1), unsure on the right (class 1 at 0.6)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 200
    image = np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)
    probs = np.zeros((40, 60, 2), np.float32)
    probs[:, :30] = [0.97, 0.03]
    probs[:, 10:14] = [0.45, 0.55]
    probs[:, 30:] = [0.4, 0.6]
    return image, probs


def test_refine_leaves_confident_pixels_as_the_network_has_them():
    image, probs = _two_regions()
    strong = CRFParams(theta_bilateral=80, theta_color=20, compat_bilateral=50, n_iter=10, scale=1.0)
    ungated, _ = refine(image, probs, Refinement(strong))
    gated, gated_probs = refine(image, probs, Refinement(strong, gate=0.9))
    network = np.argmax(probs, axis=2)
    confident = probs.max(axis=2) >= 0.9
    np.testing.assert_array_equal(gated[confident], network[confident])  # all of them, exactly
    np.testing.assert_array_equal(gated_probs[confident], probs[confident])
    # the CRF did change the unsure stripe (its dark colour and confident neighbours say class 0) in both runs
    assert (ungated[:, 10:14] == 0).mean() > 0.9 and (gated[:, 10:14] == 0).mean() > 0.9
    np.testing.assert_array_equal(gated[~confident], ungated[~confident])


def test_refine_takes_the_crfs_class_only_where_the_crf_is_sure():
    image, probs = _two_regions()
    params = CRFParams(theta_bilateral=80, theta_color=20, compat_bilateral=3, n_iter=3, scale=1.0)
    free, marginals = refine(image, probs, Refinement(params))
    threshold = float(np.median(marginals.max(axis=2)))
    accepted, kept = refine(image, probs, Refinement(params, accept=threshold))
    sure = marginals.max(axis=2) >= threshold
    assert 0 < sure.mean() < 1  # some pixels of each kind, for the test to mean something
    np.testing.assert_array_equal(accepted[sure], free[sure])
    np.testing.assert_array_equal(accepted[~sure], np.argmax(probs, axis=2)[~sure])
    np.testing.assert_array_equal(kept[~sure], probs[~sure])
    everywhere, _ = refine(image, probs, Refinement(params, accept=0.0))
    np.testing.assert_array_equal(everywhere, free)


def test_refine_makes_only_the_changes_of_class_it_is_allowed():
    """The CRF turns the unsure stripe (network: class 1) into class 0 and leaves the rest; with the change 1 -> 0
    allowed it keeps doing so, with only 0 -> 1 allowed (or none) the stripe keeps the network's class."""
    image, probs = _two_regions()
    params = CRFParams(theta_bilateral=80, theta_color=20, compat_bilateral=50, n_iter=10, scale=1.0)
    free, marginals = refine(image, probs, Refinement(params))
    network = np.argmax(probs, axis=2)
    changed = free != network
    assert changed[:, 10:14].mean() > 0.9 and set(zip(network[changed], free[changed])) == {(1, 0)}
    allowed, kept = refine(image, probs, Refinement(params, changes=((1, 0),)))
    np.testing.assert_array_equal(allowed, free)
    np.testing.assert_array_equal(kept, marginals)
    for changes in ((), ((0, 1),)):
        none, none_probs = refine(image, probs, Refinement(params, changes=changes))
        np.testing.assert_array_equal(none, network)
        np.testing.assert_array_equal(none_probs[changed], probs[changed])
    with pytest.raises(Exception, match="names a class"):
        refine(image, probs, Refinement(params, changes=((2, 0),)))


def test_change_counts_and_the_confusion_they_give():
    from dl_tools.workflows.crf_choice import change_counts, confusion_with_changes

    truth = np.array([[0, 0, 1, 1, 2, 255]])
    network = np.array([[0, 1, 1, 0, 2, 1]])
    refined = np.array([[0, 0, 2, 1, 2, 0]])
    counts = change_counts(truth, network, refined, 3, truth != 255)
    assert counts.sum() == 5 and counts[0, 1, 0] == 1 and counts[1, 1, 2] == 1 and counts[1, 0, 1] == 1
    every = np.ones((3, 3), bool)
    np.testing.assert_array_equal(confusion_with_changes(counts, every), [[2, 0, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(confusion_with_changes(counts, np.eye(3, dtype=bool)),
                                  [[1, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_select_changes_allows_the_changes_that_help_and_only_those():
    """Known answer: on validation the CRF's change 0 -> 1 is right 300 times, 1 -> 0 wrong 200 times, 2 -> 0
    right 50 and wrong 10 times, 0 -> 2 never made: allowed are 0 -> 1 and 2 -> 0."""
    from dl_tools.workflows.crf_choice import confusion_with_changes, select_changes

    counts = np.zeros((3, 3, 3), np.int64)
    for k in range(3):
        counts[k, k, k] = 1000  # unchanged and right
    counts[1, 0, 1] = 300  # truth 1, network 0, CRF 1: a good change
    counts[1, 1, 0] = 200  # truth 1, network 1, CRF 0: a bad change
    counts[0, 2, 0], counts[2, 2, 0] = 50, 10  # mostly good
    changes, iou = select_changes(counts, ["a", "b", "c"])
    assert changes == ((0, 1), (2, 0))
    allowed = np.eye(3, dtype=bool)
    allowed[0, 1] = allowed[2, 0] = True
    cm = confusion_with_changes(counts, allowed)
    assert iou == pytest.approx(np.mean(np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))))
    no_help = np.zeros((3, 3, 3), np.int64)
    no_help[0, 0, 0], no_help[1, 1, 1], no_help[2, 2, 2], no_help[0, 0, 1] = 10, 10, 10, 5  # only a bad change
    assert select_changes(no_help, ["a", "b", "c"])[0] == ()


def test_choose_changes_keeps_only_the_changes_no_single_photograph_decides():
    """Known answer on 7 validation photographs (``one_photo_carries_a_change``): pooled, both changes help; with
    photograph 0 left out, 0 -> 1 only hurts, so STABLE drops it; ANY_CHANGE allows every change; with one
    photograph, STABLE is POOLED (nothing to leave out)."""
    from dl_tools.errors import InputError
    from dl_tools.workflows.crf_choice import (
        ANY_CHANGE,
        POOLED,
        STABLE,
        CRFChoiceParams,
        choose_changes,
        confusion_with_changes,
    )

    labels = ["a", "b", "c"]
    photos = one_photo_carries_a_change()
    assert choose_changes(photos, labels, POOLED)[0] == ((0, 1), (1, 2))
    stable, iou = choose_changes(photos, labels, STABLE)
    assert stable == ((1, 2),)
    allowed = np.eye(3, dtype=bool)
    allowed[1, 2] = True
    cm = confusion_with_changes(photos.sum(axis=0), allowed)
    assert iou == pytest.approx(np.mean(np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))))
    assert choose_changes(photos, labels, ANY_CHANGE)[0] is None
    assert choose_changes(photos[:1], labels, STABLE) == choose_changes(photos[:1], labels, POOLED)
    assert (CRFChoiceParams().changes, CRFChoiceParams().training_images) == (POOLED, 50)
    with pytest.raises(InputError, match="one of any, pooled, stable"):
        CRFChoiceParams(changes="some")


def test_the_choice_grid_and_its_margin():
    from dl_tools.workflows.crf_choice import CRFChoiceParams

    grid = CRFChoiceParams().candidates(temperature=1.4)
    assert len(grid) == 4 and {r.temperature for r in grid} == {1.0, 1.4}
    assert {r.crf.theta_bilateral for r in grid} == {30.0, 60.0} and {r.accept for r in grid} == {0.95}


def test_a_refinement_and_a_choice_survive_their_records():
    refinement = Refinement(CRFParams(theta_bilateral=33.0, n_iter=7, scale=0.5), temperature=1.7, gate=0.8,
                            accept=0.9, changes=((2, 0), (0, 1)))
    assert Refinement.from_record(json.loads(json.dumps(refinement.record()))) == refinement
    ungated = Refinement(CRFParams())
    assert ungated.record()["gate"] is None and Refinement.from_record(ungated.record()) == ungated
    choice = CRFChoice(refinement, 0.61, 0.65, 12, 12, 0.005)
    assert CRFChoice.from_record(json.loads(json.dumps(choice.record()))) == choice
    assert choice.gain == pytest.approx(0.04) and "+0.040" in choice.summary()
    declined = CRFChoice(None, 0.61, 0.612, 12, 12, 0.005)
    assert declined.gain == 0.0 and "the network's labels are kept" in declined.summary()
    older = {"crf": refinement.record()["crf"], "temperature": 1.0, "gate": None}  # before "accept" existed
    assert Refinement.from_record(older).accept == 0.0 and Refinement.from_record(older).changes is None
    assert refinement.changes == ((0, 1), (2, 0))  # sorted


def test_a_refinement_refuses_a_bad_temperature_or_gate():
    from dl_tools.errors import InputError

    with pytest.raises(InputError, match="--crf-temperature"):
        Refinement(CRFParams(), temperature=0.0)
    with pytest.raises(InputError, match="--crf-gate"):
        Refinement(CRFParams(), gate=0.0)
    with pytest.raises(InputError, match="two different classes"):
        Refinement(CRFParams(), changes=((1, 1),))
    with pytest.raises(InputError, match="--crf-accept"):
        Refinement(CRFParams(), accept=1.5)


def test_training_images_join_the_choice_of_changes_but_not_the_ranking():
    """Known answer: on the 7 validation photographs (``one_photo_carries_a_change``) the pooled choice allows 0 -> 1
    and 1 -> 2; on 20 training photographs 0 -> 1 spoils 30 pixels of class 0 each and 1 -> 2 fixes 10 of class 2,
    so with them only 1 -> 2 is allowed. The IoU returned is the validation images' alone, with those changes."""
    from dl_tools.workflows.crf_choice import POOLED, confusion_with_changes, with_changes

    labels = ["a", "b", "c"]
    val = one_photo_carries_a_change()[:, None]  # (P, C = 1, N, N, N)
    training = training_photos_against_the_first_change()[:, None]
    candidate = Refinement(CRFParams())
    alone, _ = with_changes([candidate], val, training[:0], labels, POOLED)
    assert alone[0].changes == ((0, 1), (1, 2))
    (chosen,), (iou,) = with_changes([candidate], val, training, labels, POOLED)
    assert chosen.changes == ((1, 2),) and chosen.crf == candidate.crf
    cm = confusion_with_changes(val[:, 0].sum(axis=0), chosen.allowed(3))
    assert iou == pytest.approx(np.mean(np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))))


def test_evenly_spaced_keeps_the_ends_and_never_repeats():
    from dl_tools.workflows.crf_choice import evenly_spaced

    assert evenly_spaced(list(range(10)), 3) == [0, 4, 9]  # 4.5 rounds to even
    assert evenly_spaced(list(range(3)), 2) == [0, 2]
    assert evenly_spaced(list(range(4)), 10) == [0, 1, 2, 3]
    assert evenly_spaced(list(range(5)), 5) == list(range(5))
