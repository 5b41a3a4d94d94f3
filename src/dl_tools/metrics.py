"""Classification scores from a confusion matrix (pure numpy), shared by tile and pixel evaluation.

Conventions: rows of the confusion matrix are the truth, columns the estimate; class indices are 0-based.
A class absent from both truth and estimate is not scored (its scores are NaN and it is left out of averages).
The scores equal scikit-learn's (``precision_recall_fscore_support``, ``jaccard_score``, ``cohen_kappa_score``)
restricted to the classes present; the tests check that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def confusion_matrix(truth: np.ndarray, estimate: np.ndarray, n_classes: int,
                     valid: np.ndarray | None = None) -> np.ndarray:
    """(N, N) int64 counts; ``truth`` and ``estimate`` are integer arrays of one shape with values in 0..N-1.

    ``valid`` (same shape, bool) keeps only the marked elements (e.g. pixels with a class).
    """
    truth = np.asarray(truth).ravel()
    estimate = np.asarray(estimate).ravel()
    if truth.shape != estimate.shape:
        raise ValueError(f"truth {truth.shape} and estimate {estimate.shape} differ in size")
    if valid is not None:
        keep = np.asarray(valid).ravel()
        truth, estimate = truth[keep], estimate[keep]
    for name, values in (("truth", truth), ("estimate", estimate)):
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} values must lie in 0..{n_classes - 1}")
    flat = truth.astype(np.int64) * n_classes + estimate.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass
class Scores:
    """Scores of one confusion matrix. Per-class lists have one entry per class (NaN = not scored)."""

    labels: list[str]
    confusion: list[list[int]]
    support: list[int]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    iou: list[float]
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_f1: float
    mean_iou: float
    frequency_weighted_iou: float
    kappa: float
    n_samples: int

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN become None)."""
        def clean(value):
            if isinstance(value, float) and np.isnan(value):
                return None
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value
        return {key: clean(value) for key, value in asdict(self).items()}


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def scores_from_confusion(confusion: np.ndarray, labels: list[str]) -> Scores:
    """All scores of an (N, N) confusion matrix (rows truth, columns estimate)."""
    cm = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(cm)
    truth_count = cm.sum(axis=1)
    est_count = cm.sum(axis=0)
    total = cm.sum()
    scored = (truth_count + est_count) > 0
    precision = _safe_divide(tp, est_count)
    recall = _safe_divide(tp, truth_count)
    f1 = _safe_divide(2 * tp, truth_count + est_count)
    iou = _safe_divide(tp, truth_count + est_count - tp)
    nan = np.full(len(labels), np.nan)
    precision, recall, f1, iou = (np.where(scored, v, nan) for v in (precision, recall, f1, iou))
    weights = truth_count / total if total else np.zeros_like(truth_count)
    accuracy = float(tp.sum() / total) if total else float("nan")
    expected = float((truth_count * est_count).sum() / total**2) if total else float("nan")
    kappa = (accuracy - expected) / (1 - expected) if total and expected < 1 else float("nan")
    def mean(values):
        return float(np.nanmean(values)) if scored.any() else float("nan")
    return Scores(
        labels=list(labels), confusion=cm.astype(np.int64).tolist(), support=truth_count.astype(np.int64).tolist(),
        precision=precision.tolist(), recall=recall.tolist(), f1=f1.tolist(), iou=iou.tolist(),
        accuracy=accuracy, macro_precision=mean(precision), macro_recall=mean(recall), macro_f1=mean(f1),
        weighted_f1=float(np.nansum(f1 * weights)), mean_iou=mean(iou),
        frequency_weighted_iou=float(np.nansum(iou * weights)), kappa=float(kappa), n_samples=int(total),
    )


def format_scores(scores: Scores, title: str = "") -> str:
    """A plain-text table of per-class and averaged scores, for the terminal."""
    width = max([len(name) for name in scores.labels] + [9])
    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  precision  recall     f1    iou  support")
    for k, name in enumerate(scores.labels):
        if np.isnan(scores.f1[k]):
            continue
        lines.append(f"{name:<{width}}  {scores.precision[k]:9.3f}  {scores.recall[k]:6.3f}  {scores.f1[k]:5.3f}  "
                     f"{scores.iou[k]:5.3f}  {scores.support[k]:7d}")
    lines.append(f"overall accuracy {scores.accuracy:.4f}   macro F1 {scores.macro_f1:.4f}   "
                 f"weighted F1 {scores.weighted_f1:.4f}   mean IoU {scores.mean_iou:.4f}   "
                 f"kappa {scores.kappa:.4f}   (n = {scores.n_samples})")
    return "\n".join(lines)
