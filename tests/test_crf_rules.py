"""benchmarks/crf_rules.py: the offline rules that choose a run's changes of class from per-photograph counts
(truth x network x CRF), on tiny synthetic counts with a known answer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from change_counts_helpers import one_photo_carries_a_change, training_photos_against_the_first_change

from dl_tools.workflows.crf_choice import confusion_with_changes

LABELS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def crf_rules():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "crf_rules.py"
    spec = importlib.util.spec_from_file_location("crf_rules", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["crf_rules"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("crf_rules", None)


def test_pooled_selection_takes_the_change_one_photo_carries_the_safer_rules_do_not(crf_rules):
    photos = one_photo_carries_a_change()
    pooled = crf_rules.forward_selection(photos, LABELS)
    assert pooled[1, 2] and pooled[0, 1]
    for rule in (crf_rules.voted(min_helped=lambda p: p // 2 + 1), crf_rules.voted(max_hurt=1),
                 crf_rules.stable_changes, crf_rules.stable(0)):
        allowed = rule(photos, LABELS)
        assert allowed[1, 2] and not allowed[0, 1]
        assert allowed.sum() == 4  # the diagonal and 1 -> 2


def test_restrict_is_the_same_as_forbidding_the_other_changes(crf_rules):
    counts = np.random.default_rng(0).integers(0, 50, (3, 3, 3))
    eligible = np.eye(3, dtype=bool)
    eligible[0, 2] = eligible[2, 1] = True
    restricted = crf_rules.restrict(counts, eligible)
    assert restricted.sum() == counts.sum()
    for allowed in (np.ones((3, 3), bool), crf_rules.as_allowed([(0, 2), (1, 0)], 3)):
        np.testing.assert_array_equal(confusion_with_changes(restricted, allowed),
                                      confusion_with_changes(counts, allowed & eligible))


def test_the_photo_gate_and_the_gains_per_photo(crf_rules):
    photos = one_photo_carries_a_change()
    allowed = crf_rules.as_allowed([(0, 1)], 3)
    gains = crf_rules.photo_gains(photos, allowed, LABELS)
    assert gains[0] > 0 and (gains[1:] < 0).all()
    assert not crf_rules.photos_positive(2)(photos, allowed, LABELS)
    assert crf_rules.photos_positive(7)(photos, crf_rules.as_allowed([(1, 2)], 3), LABELS)


def test_cross_validation_scores_each_photo_with_changes_chosen_without_it(crf_rules):
    """Left out, photo 0 loses the change 0 -> 1 that only it carries; the others, left out, keep it and its cost."""
    photos = one_photo_carries_a_change()
    pooled = photos.sum(axis=0)
    chosen = confusion_with_changes(pooled, crf_rules.forward_selection(photos, LABELS))
    held_out = crf_rules.cross_validated(photos, LABELS, crf_rules.forward_selection)
    assert held_out.sum() == pooled.sum()
    assert crf_rules.mean_iou(held_out, LABELS) < crf_rules.mean_iou(chosen, LABELS)
    np.testing.assert_array_equal(held_out[1], [200, 700, 0])  # class 1: photo 0's 200 fixes lost


def test_a_rule_on_training_and_validation_photos_and_a_file_without_training_counts(crf_rules):
    """Known answer: the validation photographs pooled allow 0 -> 1 (photo 0 carries it); 20 training photographs
    on which 0 -> 1 spoils 30 pixels of class 0 each (``training_photos_against_the_first_change``) take it away.
    Runs saved without training counts cannot be replayed with such a rule (None), the validation-only rules
    still can."""
    val = one_photo_carries_a_change()[:, None]  # one candidate
    train = training_photos_against_the_first_change()[:, None]
    saved = crf_rules.Saved([crf_rules.Run("f0_s0", val, val, {}, train)], LABELS, np.array([30.0]),
                            np.array([False]), np.array([0.95]))
    both = crf_rules.Rule("both", {}, crf_rules.forward_selection, photos=crf_rules.BOTH)
    alone = crf_rules.Rule("val", {}, crf_rules.forward_selection)
    assert alone.choose(saved, saved.runs[0])[1][0, 1]
    candidate, allowed = both.choose(saved, saved.runs[0])
    assert candidate == 0 and allowed[1, 2] and not allowed[0, 1]
    untrained = crf_rules.Saved([crf_rules.Run("f0_s0", val, val, {})], *[getattr(saved, f) for f in
                                                                          ("labels", "theta", "fit", "accept")])
    assert crf_rules.evaluate(untrained, both) is None and crf_rules.evaluate(untrained, alone)[1] == 1
