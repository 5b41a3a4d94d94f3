"""Scores from confusion matrices: hand-computed answers and agreement with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, jaccard_score, precision_recall_fscore_support

from dl_tools.metrics import confusion_matrix, format_scores, scores_from_confusion


def test_confusion_rows_are_truth():
    truth = np.array([0, 0, 0, 1, 1, 2])
    estimate = np.array([0, 0, 1, 1, 1, 0])
    cm = confusion_matrix(truth, estimate, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_hand_computed_scores():
    cm = np.array([[2, 1, 0], [0, 2, 0], [1, 0, 0]])
    s = scores_from_confusion(cm, ["a", "b", "c"])
    assert s.precision == pytest.approx([2 / 3, 2 / 3, 0.0])
    assert s.recall == pytest.approx([2 / 3, 1.0, 0.0])
    assert s.f1 == pytest.approx([2 / 3, 0.8, 0.0])  # a zero score is kept, not dropped
    assert s.iou == pytest.approx([0.5, 2 / 3, 0.0])
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.macro_f1 == pytest.approx((2 / 3 + 0.8) / 3)
    expected = (3 * 3 + 2 * 3 + 1 * 0) / 36
    assert s.kappa == pytest.approx((4 / 6 - expected) / (1 - expected))


def test_class_absent_from_both_is_not_scored():
    cm = np.array([[5, 1, 0], [2, 4, 0], [0, 0, 0]])
    s = scores_from_confusion(cm, ["a", "b", "c"])
    assert np.isnan(s.f1[2]) and s.to_dict()["f1"][2] is None
    assert s.macro_f1 == pytest.approx(np.mean(s.f1[:2]))
    assert "c " not in format_scores(s)


def test_agrees_with_scikit_learn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 4, 500)
    estimate = np.where(rng.random(500) < 0.7, truth, rng.integers(0, 4, 500))
    s = scores_from_confusion(confusion_matrix(truth, estimate, 4), list("abcd"))
    p, r, f, support = precision_recall_fscore_support(truth, estimate, labels=range(4), zero_division=0)
    assert s.precision == pytest.approx(p.tolist())
    assert s.recall == pytest.approx(r.tolist())
    assert s.f1 == pytest.approx(f.tolist())
    assert s.support == support.tolist()
    assert s.iou == pytest.approx(jaccard_score(truth, estimate, average=None).tolist())
    assert s.kappa == pytest.approx(cohen_kappa_score(truth, estimate))
    weighted = precision_recall_fscore_support(truth, estimate, average="weighted", zero_division=0)
    assert [s.weighted_precision, s.weighted_recall, s.weighted_f1] == pytest.approx(list(weighted[:3]))
    macro = precision_recall_fscore_support(truth, estimate, average="macro", zero_division=0)
    assert [s.macro_precision, s.macro_recall, s.macro_f1] == pytest.approx(list(macro[:3]))


def test_frequency_weighted_averages_known_answer():
    # truth counts 3, 2, 1 (weights 1/2, 1/3, 1/6); the estimate never predicts class c
    truth = np.array([0, 0, 0, 1, 1, 2])
    estimate = np.array([0, 0, 1, 1, 1, 0])
    s = scores_from_confusion(confusion_matrix(truth, estimate, 3), ["a", "b", "c"])
    assert s.weighted_precision == pytest.approx(2 / 3 * 1 / 2 + 2 / 3 * 1 / 3 + 0.0)
    assert s.weighted_recall == pytest.approx(2 / 3 * 1 / 2 + 1.0 * 1 / 3 + 0.0)  # = accuracy 4/6
    p, r, _, _ = precision_recall_fscore_support(truth, estimate, average="weighted", zero_division=0)
    assert (s.weighted_precision, s.weighted_recall) == pytest.approx((p, r))
    assert s.to_dict()["weighted_precision"] == pytest.approx(5 / 9)


def test_printed_table_has_macro_and_weighted_rows():
    s = scores_from_confusion(np.array([[2, 1, 0], [0, 2, 0], [1, 0, 0]]), ["a", "b", "c"])
    lines = format_scores(s, title="T").splitlines()
    assert lines[0] == "T" and lines[1].split() == ["class", "precision", "recall", "f1", "iou", "support"]
    assert lines[5].split() == ["macro", "avg", "0.444", "0.556", "0.489", "0.389", "6"]
    assert lines[6].split() == ["weighted", "avg", "0.556", "0.667", "0.600", "0.472", "6"]
    assert lines[7].startswith("overall accuracy 0.6667   macro F1 0.4889   mean IoU 0.3889")


def test_valid_mask_and_range_check():
    truth = np.array([0, 1, 1])
    estimate = np.array([0, 1, 0])
    assert confusion_matrix(truth, estimate, 2, valid=np.array([True, True, False])).tolist() == [[1, 0], [0, 1]]
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), 2)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_balanced_accuracy_agrees_with_scikit_learn():
    from sklearn.metrics import balanced_accuracy_score

    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    estimate = np.array([0, 1, 3, 1, 1, 2, 0, 2, 3])  # class 3 predicted, never true: not in the mean
    s = scores_from_confusion(confusion_matrix(truth, estimate, 4), list("abcd"))
    assert s.balanced_accuracy == pytest.approx(balanced_accuracy_score(truth, estimate))
    assert s.balanced_accuracy == pytest.approx((1 / 3 + 1 + 2 / 4) / 3)


def test_scores_of_a_stack_equal_the_scores_of_each_matrix():
    """score_arrays scores many matrices at once (the bootstrap's resamples) exactly as scores_from_confusion
    scores one, including a class absent from a matrix and an empty matrix."""
    from dl_tools.metrics import CLASS_SCORES, SUMMARY_SCORES, score_arrays

    rng = np.random.default_rng(5)
    stack = rng.integers(0, 20, (6, 3, 3))
    stack[1, 2, :] = stack[1, :, 2] = 0
    stack[2] = 0
    values = score_arrays(stack)
    for i, cm in enumerate(stack):
        s = scores_from_confusion(cm, list("abc"))
        for name in SUMMARY_SCORES:
            np.testing.assert_allclose(values[name][i], getattr(s, name), err_msg=name)
        for name in CLASS_SCORES:
            np.testing.assert_allclose(values[name][i], getattr(s, name), err_msg=name)
    assert np.isnan(values["f1"][1, 2]) and np.isnan(values["accuracy"][2])


def test_printed_table_with_intervals():
    from dl_tools.metrics import CLASS_SCORES, SUMMARY_SCORES

    s = scores_from_confusion(np.array([[2, 1, 0], [0, 2, 0], [1, 0, 0]]), ["a", "b", "c"])
    def shifted(by):
        return {name: (np.array(getattr(s, name)) + by).tolist() for name in (*SUMMARY_SCORES, *CLASS_SCORES)}

    low, high = shifted(-0.1), shifted(0.1)
    lines = format_scores(s, low=low, high=high).splitlines()
    assert lines[1].split()[:3] == ["a", "0.667", "[0.567,"]
    assert "overall accuracy 0.6667 [0.5667, 0.7667]" in lines
    assert lines[-1].startswith("balanced accuracy 0.5556 [0.4556, 0.6556]   (n = 6)")
