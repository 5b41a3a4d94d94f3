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
    """Scores of one confusion matrix. Per-class lists have one entry per class (NaN = not scored).

    ``macro_*`` and ``mean_iou`` average the scored classes equally; ``weighted_*`` and ``frequency_weighted_iou``
    weight each class by its share of the truth (``support``), as scikit-learn's ``average="weighted"``.
    """

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
    weighted_precision: float
    weighted_recall: float
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
        weighted_precision=float(np.nansum(precision * weights)), weighted_recall=float(np.nansum(recall * weights)),
        weighted_f1=float(np.nansum(f1 * weights)), mean_iou=mean(iou),
        frequency_weighted_iou=float(np.nansum(iou * weights)), kappa=float(kappa), n_samples=int(total),
    )


def format_scores(scores: Scores, title: str = "") -> str:
    """A plain-text table of per-class scores, their macro and frequency-weighted averages, for the terminal."""
    width = max([len(name) for name in scores.labels] + [len("weighted avg")])

    def row(name, precision, recall, f1, iou, support):
        return f"{name:<{width}}  {precision:9.3f}  {recall:6.3f}  {f1:5.3f}  {iou:5.3f}  {support:7d}"

    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  precision  recall     f1    iou  support")
    lines += [row(name, scores.precision[k], scores.recall[k], scores.f1[k], scores.iou[k], scores.support[k])
              for k, name in enumerate(scores.labels) if not np.isnan(scores.f1[k])]
    lines.append(row("macro avg", scores.macro_precision, scores.macro_recall, scores.macro_f1, scores.mean_iou,
                     scores.n_samples))
    lines.append(row("weighted avg", scores.weighted_precision, scores.weighted_recall, scores.weighted_f1,
                     scores.frequency_weighted_iou, scores.n_samples))
    lines.append(f"overall accuracy {scores.accuracy:.4f}   macro F1 {scores.macro_f1:.4f}   "
                 f"mean IoU {scores.mean_iou:.4f}   kappa {scores.kappa:.4f}   (n = {scores.n_samples})")
    return "\n".join(lines)
