"""Confidence intervals of scores by a cluster bootstrap over photographs (numpy and scipy; no file is read).

The pixels, and the tiles, of one photograph are not independent samples: neighbours share the light, the scene
and the labeller's hand, so resampling pixels or tiles would give intervals far too narrow. The photographs are
resampled instead: a resample draws P photographs with replacement from the P evaluated, sums their confusion
matrices and recomputes every score (``metrics.score_arrays``, all resamples in one vectorised call).
``scipy.stats.bootstrap`` draws the resamples (seeded) and gives the interval.

The interval is the **percentile** interval (``method="percentile"``): the middle 95 % of a score over the
resampled sets of photographs. Chosen over BCa because (1) BCa estimates its acceleration by a jackknife over the
photographs, itself noisy with the 5 to 20 photographs of a typical test set; (2) BCa is undefined (NaN, scipy's
``DegenerateDataWarning``) when every resample gives the same score, as identical photographs or a method
compared with itself do, where the honest answer is an interval of width zero; (3) a class missing from some
resamples (found in few photographs) is scored over the resamples that contain it, which has no jackknife
counterpart. Percentile intervals also stay inside the range a score can take ([0, 1]; kappa [-1, 1]).

With fewer than ``MIN_PHOTOGRAPHS`` photographs no interval is given: there are too few distinct resamples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .errors import InputError
from .metrics import CLASS_SCORES, SUMMARY_SCORES, format_value, score_arrays

DEFAULT_RESAMPLES = 1000
CONFIDENCE_LEVEL = 0.95
MIN_PHOTOGRAPHS = 5
METHOD = "percentile bootstrap over photographs (scipy.stats.bootstrap)"
#: The scores of which the paired comparison says in a sentence whether the difference is distinguishable from 0.
KEY_SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou", "kappa")
SCORE_NAMES = {"accuracy": "overall accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1",
               "mean_iou": "mean IoU", "kappa": "kappa"}


def check_resamples(n_resamples: int) -> None:
    """InputError unless ``n_resamples`` (``--bootstrap``) is 0 (no intervals) or positive."""
    if n_resamples < 0:
        raise InputError(f"--bootstrap must be 0 (no intervals) or a positive number of resamples, got {n_resamples}")


@dataclass
class ScoreIntervals:
    """Intervals of the scores of ``metrics.Scores`` (or of a paired difference of them).

    low, high : {score: value}: each of ``metrics.SUMMARY_SCORES`` a float, each of ``metrics.CLASS_SCORES`` a
        list with one float per class (NaN: no interval for that class). Empty when ``note`` says why there is none.
    class_resamples : per class, the resamples in which it is scored (its interval is taken over those).
    """

    n_photographs: int
    n_resamples: int
    seed: int
    confidence_level: float = CONFIDENCE_LEVEL
    note: str = ""
    low: dict = field(default_factory=dict)
    high: dict = field(default_factory=dict)
    class_resamples: list[int] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return bool(self.low)

    def interval(self, name: str, k: int | None = None) -> tuple[float, float] | None:
        """(low, high) of score ``name`` (of class ``k`` for a per-class score), or None when there is none."""
        if not self.available:
            return None
        low, high = (self.low[name], self.high[name]) if k is None else (self.low[name][k], self.high[name][k])
        return None if np.isnan(low) else (float(low), float(high))

    def describe(self) -> str:
        """One line: what the intervals are, or why there are none."""
        if not self.available:
            return self.note
        return (f"[{self.confidence_level:.0%} intervals: {METHOD}, {self.n_photographs} photographs, "
                f"{self.n_resamples} resamples, seed {self.seed}]")

    def to_dict(self) -> dict:
        """JSON-ready: the settings, the note, and ``scores`` {score: [low, high] or None, per-class: a list}."""
        def pair(low, high):
            return None if np.isnan(low) else [float(low), float(high)]

        scores = {name: pair(self.low[name], self.high[name]) for name in SUMMARY_SCORES if self.available}
        scores.update({name: [pair(lo, hi) for lo, hi in zip(self.low[name], self.high[name])]
                       for name in CLASS_SCORES if self.available})
        return {"method": METHOD, "confidence_level": self.confidence_level, "n_photographs": self.n_photographs,
                "n_resamples": self.n_resamples, "seed": self.seed, "note": self.note or None, "scores": scores,
                "class_resamples": self.class_resamples}


def scores_record(scores, intervals: ScoreIntervals) -> dict:
    """The JSON-ready record of an evaluation's ``metrics.Scores`` and their intervals, as tile_eval.json and each
    kind of pixel_eval.json hold it (and as a model card may): {"scores": ..., "intervals": ...}."""
    return {"scores": scores.to_dict(), "intervals": intervals.to_dict()}


def _flat(values: dict[str, np.ndarray]) -> np.ndarray:
    """(S, ...) the scores of ``score_arrays`` stacked: ``SUMMARY_SCORES``, then each class score's N values."""
    rows = [values[name][None] for name in SUMMARY_SCORES]
    rows += [np.moveaxis(values[name], -1, 0) for name in CLASS_SCORES]
    return np.concatenate(rows, axis=0)


def _unflat(flat: np.ndarray, n_classes: int) -> dict:
    """The inverse of ``_flat`` for (S,) values: {score: float or per-class list}."""
    out = {name: float(value) for name, value in zip(SUMMARY_SCORES, flat)}
    start = len(SUMMARY_SCORES)
    for i, name in enumerate(CLASS_SCORES):
        out[name] = flat[start + i * n_classes: start + (i + 1) * n_classes].tolist()
    return out


def _why_none(n_photographs: int, n_resamples: int) -> str:
    """Why there is no interval ("" when there is one)."""
    if n_resamples == 0:
        return "no confidence intervals (--bootstrap 0)"
    if n_photographs < MIN_PHOTOGRAPHS:
        return (f"no confidence intervals: {n_photographs} photograph{'s' if n_photographs != 1 else ''}, fewer "
                f"than {MIN_PHOTOGRAPHS}; resampling so few photographs says little about others")
    return ""


def _bootstrap(statistic, n_photographs: int, n_classes: int, n_resamples: int, seed: int,
               resamples: np.ndarray | None, confidence_level: float) -> ScoreIntervals:
    """Intervals of ``statistic`` (photograph indices (B, P) -> flat scores (S, B)) over resampled photographs;
    ``resamples`` (B, P) gives the resamples explicitly (then B is recorded as ``n_resamples``, ``seed`` unused)."""
    from scipy import stats

    if resamples is not None:
        resamples = np.asarray(resamples, dtype=np.int64)
        n_resamples = len(resamples)
    result = ScoreIntervals(n_photographs, n_resamples, seed, confidence_level,
                            note=_why_none(n_photographs, n_resamples))
    if result.note:
        return result
    # scipy takes an earlier result's distribution and adds n_resamples more: explicit resamples add none
    given = None if resamples is None else SimpleNamespace(bootstrap_distribution=statistic(resamples))
    with warnings.catch_warnings():
        # scipy warns when an interval is NaN: a class missing from some resamples; those are redone below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        boot = stats.bootstrap((np.arange(n_photographs),), statistic, n_resamples=n_resamples if given is None else 0,
                               bootstrap_result=given, vectorized=True, method="percentile",
                               confidence_level=confidence_level, rng=np.random.default_rng(seed))
    low, high = np.array(boot.confidence_interval.low), np.array(boot.confidence_interval.high)
    distribution = boot.bootstrap_distribution
    redo = np.isnan(low) & ~np.isnan(distribution).all(axis=-1)
    if redo.any():  # over the resamples where the score is defined
        alpha = (1 - confidence_level) / 2
        low[redo], high[redo] = stats.quantile(distribution[redo], np.array([alpha, 1 - alpha]), axis=-1,
                                               nan_policy="omit").T
    result.low, result.high = _unflat(low, n_classes), _unflat(high, n_classes)
    f1_rows = len(SUMMARY_SCORES) + CLASS_SCORES.index("f1") * n_classes
    result.class_resamples = (~np.isnan(distribution[f1_rows: f1_rows + n_classes])).sum(axis=-1).tolist()
    return result


def _resampled_sums(confusions: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(..., N, N) the sum of the confusion matrices (P, N, N) of the photographs of each resample, indices (..., P):
    how often each photograph is drawn, times its matrix; memory O(B (P + N^2)), never (B, P, N, N)."""
    indices = np.asarray(indices, dtype=np.int64)
    n_photographs, n_classes = confusions.shape[0], confusions.shape[1]
    rows = indices.reshape(-1, indices.shape[-1])
    offsets = np.arange(len(rows))[:, None] * n_photographs
    drawn = np.bincount((rows + offsets).ravel(), minlength=len(rows) * n_photographs).reshape(len(rows), -1)
    sums = drawn.astype(np.float64) @ confusions.reshape(n_photographs, -1).astype(np.float64)  # exact below 2**53
    return sums.reshape(*indices.shape[:-1], n_classes, n_classes)


def _check_stack(confusions: np.ndarray) -> np.ndarray:
    confusions = np.asarray(confusions)
    if confusions.ndim != 3 or confusions.shape[1] != confusions.shape[2]:
        raise ValueError(f"confusions must be (P, N, N), got {confusions.shape}")
    return confusions


def score_intervals(confusions: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                    resamples: np.ndarray | None = None,
                    confidence_level: float = CONFIDENCE_LEVEL) -> ScoreIntervals:
    """Intervals of every score of the pooled confusion matrix of P photographs.

    confusions : (P, N, N) int counts, one confusion matrix per photograph (rows truth).
    resamples  : optional (B, P) photograph indices, one resample per row (for tests); default B = ``n_resamples``
        resamples drawn with ``seed``.
    """
    confusions = _check_stack(confusions)

    def statistic(indices, axis=-1):
        return _flat(score_arrays(_resampled_sums(confusions, indices)))

    return _bootstrap(statistic, len(confusions), confusions.shape[1], n_resamples, seed, resamples,
                      confidence_level)


@dataclass
class PairedDifference:
    """Scores of B minus scores of A over the same photographs, and the intervals of those differences."""

    difference: dict          # {score: float, per-class score: list}, B - A on the pooled matrices
    intervals: ScoreIntervals

    def distinguishable(self, name: str) -> bool | None:
        """Whether the interval of ``name``'s difference excludes 0 (None: no interval)."""
        bounds = self.intervals.interval(name)
        return None if bounds is None else bool(bounds[0] > 0 or bounds[1] < 0)

    def sentences(self, name_a: str, name_b: str, values_a: dict, values_b: dict) -> list[str]:
        """One plain sentence per ``KEY_SCORES`` score: its values, the difference and whether it is
        distinguishable from zero."""
        lines = []
        for name in KEY_SCORES:
            a, b, diff = values_a[name], values_b[name], self.difference[name]
            bounds = self.intervals.interval(name)
            text = (f"{SCORE_NAMES[name]}: {name_b} {b:.3f}, {name_a} {a:.3f}, difference {name_b} - {name_a} "
                    f"{format_value(diff, bounds, sign=True)}")
            if bounds is None:
                text += " (no interval, so it cannot be told whether it differs from zero)."
            elif self.distinguishable(name):
                higher = name_b if diff > 0 else name_a
                text += f": distinguishable from zero (the interval excludes 0); {higher} scores higher."
            else:
                text += ": not distinguishable from zero (the interval includes 0)."
            lines.append(text)
        return lines

    def to_dict(self) -> dict:
        clean = {k: (None if isinstance(v, float) and np.isnan(v) else
                     [None if np.isnan(x) else x for x in v] if isinstance(v, list) else v)
                 for k, v in self.difference.items()}
        return {"difference": clean, "intervals": self.intervals.to_dict(),
                "distinguishable_from_zero": {name: self.distinguishable(name) for name in KEY_SCORES}}


def paired_difference(confusions_a: np.ndarray, confusions_b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0, resamples: np.ndarray | None = None,
                      confidence_level: float = CONFIDENCE_LEVEL) -> PairedDifference:
    """Scores of B minus scores of A, with intervals from resampling the same photographs for both.

    confusions_a, confusions_b : (P, N, N) confusion matrices of the same P photographs, in the same order, on the
        same classes. resamples: as for ``score_intervals``.
    """
    confusions_a, confusions_b = _check_stack(confusions_a), _check_stack(confusions_b)
    if confusions_a.shape != confusions_b.shape:
        raise ValueError(f"paired confusions differ in shape: {confusions_a.shape} and {confusions_b.shape}")

    def statistic(indices, axis=-1):
        return (_flat(score_arrays(_resampled_sums(confusions_b, indices)))
                - _flat(score_arrays(_resampled_sums(confusions_a, indices))))

    n_classes = confusions_a.shape[1]
    observed = _unflat(_flat(score_arrays(confusions_b.sum(axis=0))) - _flat(score_arrays(confusions_a.sum(axis=0))),
                       n_classes)
    return PairedDifference(observed, _bootstrap(statistic, len(confusions_a), n_classes, n_resamples, seed,
                                                 resamples, confidence_level))
