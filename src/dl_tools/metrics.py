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


def confusion_by_group(groups, truth: np.ndarray, estimate: np.ndarray, n_classes: int) -> tuple[list, np.ndarray]:
    """(sorted group names, (G, N, N) int64 confusion matrices, one per group): ``groups`` (n,) names the group of
    each of the (n,) ``truth`` and ``estimate`` class indices (e.g. the photograph of each tile)."""
    names = np.asarray(groups, dtype=object)
    order = sorted(set(names.tolist()))
    stack = np.zeros((len(order), n_classes, n_classes), dtype=np.int64)
    for g, name in enumerate(order):
        mine = names == name
        stack[g] = confusion_matrix(np.asarray(truth)[mine], np.asarray(estimate)[mine], n_classes)
    return order, stack


@dataclass
class Scores:
    """Scores of one confusion matrix. Per-class lists have one entry per class (NaN = not scored).

    ``balanced_accuracy`` is the mean recall of the classes present in the truth (scikit-learn's
    ``balanced_accuracy_score``). ``macro_*`` and ``mean_iou`` average the scored classes equally; ``weighted_*``
    and ``frequency_weighted_iou`` weight each class by its share of the truth (``support``), as scikit-learn's
    ``average="weighted"``.
    """

    labels: list[str]
    confusion: list[list[int]]
    support: list[int]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    iou: list[float]
    accuracy: float
    balanced_accuracy: float
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
    out = np.zeros(np.broadcast_shapes(np.shape(num), np.shape(den)), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _mean_of_scored(values: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """(...,) mean over the last axis of ``values`` where ``scored`` (NaN where nothing is scored)."""
    n = scored.sum(axis=-1)
    return np.where(n > 0, np.where(scored, values, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)


#: Per-class scores of ``score_arrays`` (shape (..., N)); the other keys are one number per matrix (shape (...)).
CLASS_SCORES = ("precision", "recall", "f1", "iou")
#: The one-number scores of ``score_arrays``, in the order of ``Scores``.
SUMMARY_SCORES = ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
                  "weighted_recall", "weighted_f1", "mean_iou", "frequency_weighted_iou", "kappa")


def score_arrays(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Every score of a stack of confusion matrices at once: confusion (..., N, N) counts (rows truth, columns
    estimate) -> {name: array}, ``CLASS_SCORES`` of shape (..., N) (NaN for a class absent from both truth and
    estimate) and ``SUMMARY_SCORES`` of shape (...). The one computation behind ``scores_from_confusion``, and
    vectorised so that a bootstrap scores thousands of resampled matrices in one call (``intervals``)."""
    cm = np.asarray(confusion, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    truth_count, est_count = cm.sum(axis=-1), cm.sum(axis=-2)
    total = truth_count.sum(axis=-1)
    scored = (truth_count + est_count) > 0
    per_class = {"precision": _safe_divide(tp, est_count), "recall": _safe_divide(tp, truth_count),
                 "f1": _safe_divide(2 * tp, truth_count + est_count),
                 "iou": _safe_divide(tp, truth_count + est_count - tp)}
    per_class = {name: np.where(scored, values, np.nan) for name, values in per_class.items()}
    weights = _safe_divide(truth_count, total[..., None])
    accuracy = np.where(total > 0, _safe_divide(tp.sum(axis=-1), total), np.nan)
    expected = _safe_divide((truth_count * est_count).sum(axis=-1), total**2)
    kappa = np.where((total > 0) & (expected < 1), _safe_divide(accuracy - expected, 1 - expected), np.nan)
    out = dict(per_class)
    out.update(
        accuracy=accuracy,
        # scikit-learn's balanced_accuracy_score: the mean recall of the classes present in the truth
        balanced_accuracy=_mean_of_scored(per_class["recall"], truth_count > 0),
        macro_precision=_mean_of_scored(per_class["precision"], scored),
        macro_recall=_mean_of_scored(per_class["recall"], scored),
        macro_f1=_mean_of_scored(per_class["f1"], scored),
        mean_iou=_mean_of_scored(per_class["iou"], scored),
        kappa=kappa,
    )
    for name, source in (("weighted_precision", "precision"), ("weighted_recall", "recall"),
                         ("weighted_f1", "f1"), ("frequency_weighted_iou", "iou")):
        out[name] = np.where(scored, per_class[source] * weights, 0.0).sum(axis=-1)
    return out


def scores_from_confusion(confusion: np.ndarray, labels: list[str]) -> Scores:
    """All scores of an (N, N) confusion matrix (rows truth, columns estimate)."""
    cm = np.asarray(confusion, dtype=np.float64)
    values = score_arrays(cm)
    return Scores(
        labels=list(labels), confusion=cm.astype(np.int64).tolist(), support=cm.sum(axis=1).astype(np.int64).tolist(),
        **{name: values[name].tolist() for name in CLASS_SCORES},
        **{name: float(values[name]) for name in SUMMARY_SCORES}, n_samples=int(cm.sum()),
    )


def format_value(value: float, bounds: tuple[float, float] | None = None, digits: int = 3,
                 sign: bool = False) -> str:
    """``0.723`` or, with the bounds of an interval, ``0.723 [0.680, 0.765]`` (``-`` for NaN; ``+0.012`` with
    ``sign``)."""
    spec = f"{'+' if sign else ''}.{digits}f"
    if np.isnan(value):
        return "-"
    text = format(value, spec)
    return text if bounds is None else f"{text} [{format(bounds[0], spec)}, {format(bounds[1], spec)}]"


def format_scores(scores: Scores, title: str = "", low: dict | None = None, high: dict | None = None) -> str:
    """A plain-text table of per-class scores, their macro and frequency-weighted averages, for the terminal.

    low, high: optional bounds of an interval of each score, keyed as the fields of ``Scores`` (per-class scores: a
    list per class; NaN = no bound), e.g. ``intervals.ScoreIntervals.low``; each number is then followed by its
    ``[low, high]``. Empty or None: no intervals.
    """
    low, high = (low, high) if low else (None, None)
    width = max([len(name) for name in scores.labels] + [len("weighted avg")])

    def cell(name, value, k=None, digits=3):
        bounds = None
        if low is not None:
            bounds = (low[name], high[name]) if k is None else (low[name][k], high[name][k])
            bounds = None if np.isnan(bounds[0]) else bounds
        return format_value(value, bounds, digits)

    columns = [(9, "precision"), (6, "recall"), (5, "f1"), (5, "iou")]
    if low is not None:
        columns = [(20, name) for _, name in columns]

    def row(name, values, support):
        cells = [f"{text:>{size}}" for (size, _), text in zip(columns, values)]
        return f"{name:<{width}}  {'  '.join(cells)}  {support:7d}"

    lines = [title] if title else []
    lines.append(f"{'class':<{width}}  {'  '.join(f'{head:>{size}}' for size, head in columns)}  support")
    lines += [row(name, [cell(score, getattr(scores, score)[k], k) for score in CLASS_SCORES], scores.support[k])
              for k, name in enumerate(scores.labels) if not np.isnan(scores.f1[k])]
    lines.append(row("macro avg", [cell(score, getattr(scores, score)) for score in
                                   ("macro_precision", "macro_recall", "macro_f1", "mean_iou")], scores.n_samples))
    lines.append(row("weighted avg", [cell(score, getattr(scores, score)) for score in
                                      ("weighted_precision", "weighted_recall", "weighted_f1",
                                       "frequency_weighted_iou")], scores.n_samples))
    parts = [f"{label} {cell(score, getattr(scores, score), digits=4)}" for label, score in
             (("overall accuracy", "accuracy"), ("macro F1", "macro_f1"), ("mean IoU", "mean_iou"), ("kappa", "kappa"),
              ("balanced accuracy", "balanced_accuracy"))]
    parts.append(f"(n = {scores.n_samples})")
    if low is None:
        lines.append("   ".join(parts))
    else:  # one score a line: each is twice as long with its interval
        lines += parts[:-2] + ["   ".join(parts[-2:])]
    return "\n".join(lines)
