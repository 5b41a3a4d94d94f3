"""What the two evaluation steps (5: tiles, 7: pixels) report alike: scores with their intervals as rows, CSV and
HTML sections, and their figures embedded in the page.

The pages themselves are assembled by ``eval_tiles`` and ``pixel_eval`` from these pieces (``io.html_report``).
"""

from __future__ import annotations

import csv
import io

import numpy as np

from ..intervals import ScoreIntervals
from ..metrics import Scores, format_value

WORST_SHOWN = 5  # photographs or images listed by the evaluation steps as the ones to look at first

#: (label, field of ``metrics.Scores``) of the one-number scores, in the order they are reported
SUMMARY_ROWS = (("overall accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                ("macro precision", "macro_precision"), ("macro recall", "macro_recall"), ("macro F1", "macro_f1"),
                ("weighted precision", "weighted_precision"), ("weighted recall", "weighted_recall"),
                ("weighted F1", "weighted_f1"), ("mean IoU", "mean_iou"),
                ("frequency-weighted IoU", "frequency_weighted_iou"), ("kappa", "kappa"))
CLASS_ROWS = (("precision", "precision"), ("recall", "recall"), ("F1", "f1"), ("IoU", "iou"))


def score_rows(scores: Scores, intervals: ScoreIntervals) -> list[tuple[str, str, float, float, float]]:
    """Every score as (score, class or "", value, low, high): the summary scores, then each scored class's
    precision, recall, F1 and IoU; low and high are NaN without an interval."""
    def bounds(name, k=None):
        found = intervals.interval(name, k)
        return found if found is not None else (np.nan, np.nan)

    rows = [(label, "", getattr(scores, name), *bounds(name)) for label, name in SUMMARY_ROWS]
    for k, label in enumerate(scores.labels):
        if not np.isnan(scores.f1[k]):
            rows += [(score, label, getattr(scores, name)[k], *bounds(name, k)) for score, name in CLASS_ROWS]
    return rows


def score_csv_text(rows: list[tuple[str, str, float, float, float]]) -> str:
    """``score_rows`` as CSV: score, class, value, low, high (blank = none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["score", "class", "value", "low", "high"])
    for score, label, *numbers in rows:
        writer.writerow([score, label, *("" if np.isnan(v) else f"{v:.6f}" for v in numbers)])
    return buffer.getvalue()


def title_with_interval(label: str, scores: Scores, intervals: ScoreIntervals, name: str) -> str:
    """``accuracy 0.723 [0.680, 0.765]`` (the value alone without an interval), for figure titles."""
    return f"{label} {format_value(getattr(scores, name), intervals.interval(name))}"


def scores_html(scores: Scores, intervals: ScoreIntervals, caption: str) -> list[str]:
    """HTML parts: the summary scores, then the per-class scores, each with its interval, and how they were made."""
    from ..io.html_report import paragraph, table_html

    level = f"{intervals.confidence_level:.0%} interval"
    summary = [(label, format_value(getattr(scores, name)), _bounds_text(intervals.interval(name)))
               for label, name in SUMMARY_ROWS]
    per_class = [(label, *(format_value(getattr(scores, name)[k], intervals.interval(name, k))
                           for _, name in CLASS_ROWS), scores.support[k])
                 for k, label in enumerate(scores.labels) if not np.isnan(scores.f1[k])]
    return [table_html(["score", "value", level], summary, caption=caption),
            table_html(["class", *(f"{label} [{level}]" for label, _ in CLASS_ROWS), "support"], per_class),
            paragraph(intervals.describe(), note=True)]


def _bounds_text(bounds: tuple[float, float] | None) -> str:
    return "-" if bounds is None else f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def figure_html(path, what: str) -> str:
    """The figure file ``path`` (PNG, e.g. a confusion matrix just written) embedded in the page."""
    from ..io.html_report import image_html, png_file_uri

    return image_html(png_file_uri(path), alt=what)
