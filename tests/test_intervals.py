"""Intervals by resampling photographs: a hand-computed interval, zero width, paired differences, the notes."""

from __future__ import annotations

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.intervals import MIN_PHOTOGRAPHS, check_resamples, paired_difference, score_intervals
from dl_tools.metrics import scores_from_confusion

# five photographs, three classes (rows truth); class 2 is only in photograph 4
PHOTOGRAPHS = np.array([
    [[1, 0, 0], [0, 1, 0], [0, 0, 0]],   # 2 of 2 right
    [[1, 1, 0], [0, 0, 0], [0, 0, 0]],   # 1 of 2
    [[0, 1, 0], [1, 0, 0], [0, 0, 0]],   # 0 of 2
    [[2, 0, 0], [0, 0, 0], [0, 0, 0]],   # 2 of 2
    [[0, 0, 0], [0, 0, 0], [0, 0, 2]],   # 2 of 2
])
RESAMPLES = np.array([[0, 0, 0, 0, 0], [2, 2, 2, 2, 2], [0, 1, 2, 3, 4], [1, 1, 0, 0, 3]])


def test_interval_computed_by_hand():
    found = score_intervals(PHOTOGRAPHS, resamples=RESAMPLES)
    # accuracy of the four resamples: 10/10, 0/10, 7/10, 8/10 -> sorted 0, 0.7, 0.8, 1; the 2.5 % and 97.5 %
    # points by linear interpolation sit at positions 0.075 and 2.925 of 0..3
    assert found.interval("accuracy") == pytest.approx((0.075 * 0.7, 0.8 + 0.925 * 0.2))
    # recall of class 0: 5/5, 0/5, 4/6, 6/8 -> sorted 0, 2/3, 3/4, 1
    assert found.interval("recall", 0) == pytest.approx((0.075 * 2 / 3, 0.75 + 0.925 * 0.25))
    # class 2 is scored only in the resample holding photograph 4 (F1 1 there): its interval is over that one
    assert found.class_resamples == [4, 4, 1]
    assert found.interval("f1", 2) == (1.0, 1.0)
    assert found.n_resamples == 4 and found.n_photographs == 5
    record = found.to_dict()
    assert record["scores"]["accuracy"] == pytest.approx([0.0525, 0.985])
    assert record["scores"]["f1"][2] == [1.0, 1.0] and record["note"] is None


def test_scores_of_a_resample_are_those_of_its_summed_matrices():
    """What is resampled: resample [1, 1, 0, 0, 3] has the scores of photographs 1, 1, 0, 0 and 3 pooled."""
    pooled = scores_from_confusion(PHOTOGRAPHS[[1, 1, 0, 0, 3]].sum(axis=0), list("abc"))
    found = score_intervals(PHOTOGRAPHS, resamples=RESAMPLES[[3, 3]])
    assert found.interval("macro_f1") == pytest.approx((pooled.macro_f1, pooled.macro_f1))
    assert found.interval("kappa") == pytest.approx((pooled.kappa, pooled.kappa))


def test_identical_photographs_give_intervals_of_width_zero():
    same = np.repeat(PHOTOGRAPHS[:1] * 3 + np.array([[0, 1, 0], [2, 0, 0], [0, 0, 1]]), 6, axis=0)
    found = score_intervals(same, n_resamples=200, seed=1)
    pooled = scores_from_confusion(same.sum(axis=0), list("abc"))
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou", "kappa", "weighted_f1"):
        low, high = found.interval(name)
        assert low == high == pytest.approx(getattr(pooled, name))
    assert found.interval("iou", 1) == pytest.approx((pooled.iou[1], pooled.iou[1]))


def test_seeded_and_the_observed_score_inside():
    rng = np.random.default_rng(0)
    photographs = rng.integers(0, 50, (12, 3, 3))
    first, again = score_intervals(photographs, 300, seed=4), score_intervals(photographs, 300, seed=4)
    other = score_intervals(photographs, 300, seed=5)
    assert first.to_dict() == again.to_dict() and first.to_dict() != other.to_dict()
    accuracy = scores_from_confusion(photographs.sum(axis=0), list("abc")).accuracy
    low, high = first.interval("accuracy")
    assert low < accuracy < high


def test_a_method_compared_with_itself_differs_by_zero():
    rng = np.random.default_rng(1)
    photographs = rng.integers(0, 50, (8, 3, 3))
    same = paired_difference(photographs, photographs.copy(), n_resamples=300)
    assert same.difference["mean_iou"] == 0 and same.intervals.interval("mean_iou") == (0.0, 0.0)
    assert same.intervals.interval("f1", 1) == (0.0, 0.0)
    assert same.distinguishable("kappa") is False
    sentences = same.sentences("A", "A again", *[scores_from_confusion(photographs.sum(0), list("abc")).to_dict()] * 2)
    assert len(sentences) == 5
    assert all("difference A again - A +0.000 [+0.000, +0.000]: not distinguishable from zero" in s
               for s in sentences)


def test_a_method_better_on_every_photograph_is_distinguishable():
    rng = np.random.default_rng(2)
    worse = rng.integers(5, 20, (10, 2, 2))
    better = worse.copy()
    better[:, 0, 0] += 30  # more right pixels of class 0 on every photograph, nothing else changed
    found = paired_difference(worse, better, n_resamples=300)
    assert found.difference["accuracy"] > 0 and found.intervals.interval("accuracy")[0] > 0
    assert found.distinguishable("accuracy") is True
    scores = [scores_from_confusion(m.sum(axis=0), ["a", "b"]).to_dict() for m in (worse, better)]
    assert found.sentences("old", "new", *scores)[0].endswith("distinguishable from zero (the interval excludes 0); "
                                                              "new scores higher.")
    assert found.to_dict()["distinguishable_from_zero"]["accuracy"] is True


def test_no_interval_below_five_photographs_or_without_resamples():
    few = score_intervals(PHOTOGRAPHS[: MIN_PHOTOGRAPHS - 1])
    assert not few.available and few.interval("accuracy") is None
    assert few.describe() == ("no confidence intervals: 4 photographs, fewer than 5; resampling so few photographs "
                              "says little about others")
    assert few.to_dict()["scores"] == {} and "fewer than 5" in few.to_dict()["note"]
    assert score_intervals(PHOTOGRAPHS, n_resamples=0).describe() == "no confidence intervals (--bootstrap 0)"
    difference = paired_difference(PHOTOGRAPHS[:3], PHOTOGRAPHS[:3])
    assert difference.distinguishable("accuracy") is None
    scores = scores_from_confusion(PHOTOGRAPHS[:3].sum(axis=0), list("abc")).to_dict()
    assert "cannot be told whether it differs from zero" in difference.sentences("A", "B", scores, scores)[0]


def test_bad_input():
    with pytest.raises(InputError, match="--bootstrap must be 0 .* got -1"):
        check_resamples(-1)
    with pytest.raises(ValueError, match=r"\(P, N, N\)"):
        score_intervals(PHOTOGRAPHS[0])
    with pytest.raises(ValueError, match="differ in shape"):
        paired_difference(PHOTOGRAPHS, PHOTOGRAPHS[:4])
