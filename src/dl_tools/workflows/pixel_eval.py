"""Tutorial step 7: score automatic label files (``*_ares*.mat``) against manual ones (``*_mres.mat``), per pixel.

Pairing is by exact name: the estimate ``<base>_ares<anything>.mat`` (the hybrid's ``<base>_ares_96.mat``, the
FCN's ``<base>_ares.mat`` or ``<base>_ares_crf.mat``) is scored against ``<base>_mres.mat``; ``IMG_1`` never
pairs with ``IMG_10``. Classes are matched by name (``io.text.match_class_names``): the scored classes are the
union of the names in all files, so a class found in only one file is a class the other never has (a warning
names such classes; a pair that shares no class name at all is an error). Pixels that either file marks as having
no data (its ``nodata`` mask: the no-data border of a GeoTIFF) are left out. Scores:
``metrics.scores_from_confusion`` (rows = truth); nothing is filtered or dropped, and a class absent from both
truth and estimate of a pair is not scored for that pair. Pairs are pooled per estimate kind (the text after
``<base>``, e.g. ``_ares_96``), so the hybrid and FCN results in one folder get separate overall scores.

Label GeoTIFFs of any size are scored too, window by window (``workflows.raster_pairs``): an estimate
``<base>_ares_96.tif`` (step 6) or ``<base>[_crf]_label.tif`` (step 8) against ``<base>_mres.tif``, of the kind of
the .mat it stands for; a GeoTIFF written beside its .mat is not scored twice.

Writes into the estimates' folder: ``<estimate name>_cm.png`` per pair, ``pixel_eval_cm.png`` for the pooled
pairs (``pixel_eval<kind>_cm.png`` when there are several kinds), ``pixel_eval.json`` and ``pixel_eval.csv``.
Every file is read and checked, and every output name checked, before the first output is written.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import (
    CONFUSION_SUFFIX,
    ESTIMATE_MARK,
    MANUAL_MARK,
    MANUAL_SUFFIX,
    PIXEL_EVAL,
    pixel_eval_outputs,
    raster_estimate,
)
from ..io.images import check_input_dir
from ..metrics import Scores, confusion_matrix, scores_from_confusion

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class PixelEvalParams:
    """truth_dir: folder of the ``*_mres.mat`` files (default: the estimates' folder).
    resize: nearest-neighbour resize an estimate to its truth's shape instead of refusing a size mismatch."""

    truth_dir: Path | None = None
    resize: bool = False


@dataclass
class Pair:
    """One estimate, its truth, and the estimate's kind (the name after the base, e.g. ``_ares_96``)."""

    estimate: Path
    truth: Path
    kind: str


@dataclass
class PairResult:
    pair: Pair
    scores: Scores
    figure: Path


@dataclass
class PixelEvalResult:
    pairs: list[PairResult]
    overall: dict[str, Scores]      # kind -> pooled scores
    figures: dict[str, Path]        # kind -> pooled confusion figure
    unpaired: list[Path]            # estimates without a truth file
    json_path: Path
    csv_path: Path


def split_estimate_name(path: Path) -> tuple[str, str]:
    """(base, kind) of an estimate file name: ``a_b_ares_96.mat`` -> (``a_b``, ``_ares_96``)."""
    stem = path.name[: -len(".mat")]
    cut = stem.rfind(ESTIMATE_MARK)
    return stem[:cut], stem[cut:]


def find_pairs(input_dir: Path, truth_dir: Path) -> tuple[list[Pair], list[Path]]:
    """Pairs (estimate, truth) of the folders, and the estimates that have no truth file."""
    for flag, folder, files in (("--input", input_dir, f"*{ESTIMATE_MARK}*.mat"),
                                ("--truth-dir", truth_dir, f"*{MANUAL_SUFFIX}")):
        check_input_dir(folder, flag, f"give the folder of the {files} files")
    # names starting with '.' are temporary files of an interrupted writer, never results
    estimates = sorted(p for p in input_dir.glob(f"*{ESTIMATE_MARK}*.mat")
                       if p.is_file() and not p.name.startswith("."))
    rasters = raster_pairs(input_dir, truth_dir, {split_estimate_name(p) for p in estimates})
    if not estimates and not rasters:
        raise InputError(f"--input: no *{ESTIMATE_MARK}*.mat files in {input_dir}; run "
                         "semseg_crf/semseg_cnn_crf.py (or the FCN inference) first, or give the right folder")
    pairs, unpaired = [], []
    for estimate in estimates:
        base, kind = split_estimate_name(estimate)
        truth = truth_dir / f"{base}{MANUAL_SUFFIX}"
        if truth.is_file():
            pairs.append(Pair(estimate, truth, kind))
        else:
            unpaired.append(estimate)
    pairs += rasters
    if not pairs:
        first = split_estimate_name(estimates[0])[0]
        raise InputError(f"none of the {len(estimates)} estimates in {input_dir} has a manual label file in "
                         f"{truth_dir} (e.g. {first}{MANUAL_SUFFIX} for {estimates[0].name}); copy the *_mres.mat "
                         "files there (create_library/cp_mat.py) or give --truth-dir")
    for estimate in unpaired:
        log.warning("%s: no %s%s in %s; not scored", estimate.name, split_estimate_name(estimate)[0], MANUAL_SUFFIX,
                    truth_dir)
    return pairs, unpaired


def raster_pairs(input_dir: Path, truth_dir: Path, done: set[tuple[str, str]]) -> list[Pair]:
    """Pairs of label GeoTIFFs (``file_contract.raster_estimate`` against ``<base>_mres.tif``), scored window by
    window; a GeoTIFF whose ``.mat`` is among the (base, kind) of ``done`` is that file's copy, not another pair."""
    pairs = []
    for estimate in sorted(p for p in input_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        named = raster_estimate(estimate)
        truth = truth_dir / f"{named[0]}{MANUAL_MARK}{estimate.suffix}" if named else None
        if named and named not in done and truth.is_file():
            pairs.append(Pair(estimate, truth, named[1]))
    return pairs


def union_labels(label_lists: list[list[str]]) -> list[str]:
    """All class names of the lists, matched by name, in order of first appearance."""
    from ..io.text import match_class_names

    union: list[str] = []
    for labels in label_lists:
        for name, match in zip(labels, match_class_names(list(labels), union)):
            if match is None:
                union.append(name)
    return union


def one_sided_classes(truth_labels: list[str], estimate_labels: list[str]) -> tuple[list[str], list[str]]:
    """(class names only in the truth, class names only in the estimate), matched by name."""
    from ..io.text import match_class_names

    in_estimate = match_class_names(list(truth_labels), list(estimate_labels))
    in_truth = match_class_names(list(estimate_labels), list(truth_labels))
    return ([name for name, match in zip(truth_labels, in_estimate) if match is None],
            [name for name, match in zip(estimate_labels, in_truth) if match is None])


def _names(labels: list[str]) -> str:
    return ", ".join(map(repr, labels))


def check_pair_classes(pair: Pair, truth_labels: list[str], estimate_labels: list[str]) -> tuple[str, ...]:
    """Raise InputError when the pair shares no class name; return its classes found in one file only, each
    followed by where (e.g. ``'cloud' (estimate only)``), to be reported in a warning (empty when none)."""
    only_truth, only_estimate = one_sided_classes(truth_labels, estimate_labels)
    if len(only_truth) == len(truth_labels):
        raise InputError(f"{pair.estimate.name} and its truth {pair.truth.name} share no class name (estimate: "
                         f"{_names(estimate_labels)}; truth: {_names(truth_labels)}); train the model with the "
                         "class names of the manual labels (labeldefs.txt), or give the right --truth-dir")
    return tuple([f"{name!r} (truth only)" for name in only_truth] +
                 [f"{name!r} (estimate only)" for name in only_estimate])


def to_union(label_image: np.ndarray, labels: list[str], union: list[str]) -> np.ndarray:
    """An (H, W) class map re-indexed from ``labels`` to ``union`` (every name must be in ``union``)."""
    from ..io.text import match_class_names

    lut = np.asarray(match_class_names(list(labels), union), dtype=np.int64)
    dtype = np.uint8 if len(union) <= 256 else np.uint16
    return lut.astype(dtype)[np.asarray(label_image)]


def pair_confusion(pair: Pair, union: list[str], truth, estimate, resize: bool) -> np.ndarray:
    """(N, N) confusion matrix (rows = truth) of two LabelFiles on the ``union`` classes, without the pixels that
    either file marks as having no data (``LabelFile.nodata``)."""
    est_image, est_nodata = estimate.label_image, estimate.nodata
    if est_image.shape != truth.label_image.shape:
        if not resize:
            (th, tw), (eh, ew) = truth.label_image.shape, est_image.shape
            raise InputError(f"{pair.estimate.name} is {ew} x {eh} px but its truth {pair.truth.name} is {tw} x {th} "
                             "px; give --resize to resize the estimate (nearest neighbour) to the truth's size")
        from ..arrays.resize import resize_labels

        est_image = resize_labels(est_image, truth.label_image.shape)
        if est_nodata is not None:
            est_nodata = resize_labels(est_nodata.astype(np.uint8), truth.label_image.shape) > 0
    masks = [mask for mask in (truth.nodata, est_nodata) if mask is not None]
    valid = ~np.logical_or.reduce(masks) if masks else None
    return confusion_matrix(to_union(truth.label_image, truth.labels, union),
                            to_union(est_image, estimate.labels, union), len(union), valid=valid)


def pair_matrix(pair: Pair, resize: bool) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    """(classes in one file only, as ``check_pair_classes`` gives them; the pair's classes; its (n, n) confusion
    matrix on them) of a pair of .mat files, or of label GeoTIFFs scored window by window
    (``workflows.raster_pairs``)."""
    if pair.estimate.suffix.lower() == ".mat":
        from ..io.mat import read_label_mat

        truth, estimate = read_label_mat(pair.truth), read_label_mat(pair.estimate)
        only = check_pair_classes(pair, truth.labels, estimate.labels)
        names = union_labels([truth.labels, estimate.labels])
        return only, names, pair_confusion(pair, names, truth, estimate, resize)
    from ..io.text import match_class_names
    from .raster_pairs import check_grids, pair_class_names, raster_confusion, raster_grid

    truth_labels, estimate_labels = pair_class_names(pair.truth, pair.estimate)
    only = check_pair_classes(pair, truth_labels, estimate_labels)
    check_grids(raster_grid(pair.truth), raster_grid(pair.estimate), resize)
    names = union_labels([truth_labels, estimate_labels])
    luts = [np.asarray(match_class_names(list(labels), names), dtype=np.int64)
            for labels in (truth_labels, estimate_labels)]
    return only, names, raster_confusion(pair.truth, pair.estimate, *luts, len(names), resize)


def embed_confusion(confusion: np.ndarray, names: list[str], union: list[str]) -> np.ndarray:
    """An (n, n) confusion matrix on classes ``names`` spread into the (N, N) matrix of ``union``."""
    from ..io.text import match_class_names

    index = np.asarray(match_class_names(list(names), union), dtype=np.int64)
    out = np.zeros((len(union), len(union)), dtype=np.int64)
    out[np.ix_(index, index)] = confusion
    return out


def _figure(confusion: np.ndarray, union: list[str], title: str, path: Path) -> Path:
    from ..io.figures import save_figure
    from ..plotting import confusion_figure

    seen = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    names = [name for name, keep in zip(union, seen) if keep]
    fig = confusion_figure(confusion[np.ix_(seen, seen)], names, title=title, cmap="Reds")
    return save_figure(fig, path)


def _title(name: str, scores: Scores) -> str:
    return f"{name}\naccuracy {scores.accuracy:.3f}, macro F1 {scores.macro_f1:.3f}\nmean IoU {scores.mean_iou:.3f}"


SUMMARY_FIELDS = ("n_samples", "accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
                  "weighted_recall", "weighted_f1", "mean_iou", "frequency_weighted_iou", "kappa")


def _csv_text(rows: list[tuple[str, str, str, Scores]], union: list[str]) -> str:
    """One row per pair and per pooled kind: summary scores, then F1 and IoU of every class (blank = not scored)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["scope", "kind", "estimate", "truth", *SUMMARY_FIELDS,
                     *[f"f1:{n}" for n in union], *[f"iou:{n}" for n in union]])

    def fmt(value):
        return "" if isinstance(value, float) and np.isnan(value) else (f"{value:.6f}" if isinstance(value, float)
                                                                          else value)
    for scope, kind, estimate, truth, scores in rows:
        writer.writerow([scope, kind, estimate, truth, *[fmt(getattr(scores, f)) for f in SUMMARY_FIELDS],
                         *map(fmt, scores.f1), *map(fmt, scores.iou)])
    return buffer.getvalue()


def output_paths(input_dir: Path, pairs: list[Pair]) -> tuple[list[Path], dict[str, Path], Path, Path]:
    """The files ``evaluate_pixels`` writes: per-pair figures (in ``pairs`` order), kind -> pooled figure, JSON, CSV."""
    figures = [input_dir / f"{pair.estimate.stem}{CONFUSION_SUFFIX}" for pair in pairs]
    kinds = list(dict.fromkeys(pair.kind for pair in pairs))
    pooled = {kind: input_dir / f"{PIXEL_EVAL}{kind if len(kinds) > 1 else ''}{CONFUSION_SUFFIX}"
              for kind in kinds}
    return figures, pooled, *pixel_eval_outputs(input_dir)


def check_outputs(input_dir: Path, paths: list[Path]) -> None:
    """Raise InputError when ``input_dir`` is not writable or one of the output ``paths`` is a folder."""
    from ..io.atomic import check_output_dir, check_output_file

    check_output_dir(input_dir, "--input", fix="copy the files to a folder you can write to")
    for path in paths:
        check_output_file(path, "output", fix="rename or remove the folder")


def evaluate_pixels(input_dir: str | os.PathLike, params: PixelEvalParams = PixelEvalParams()) -> PixelEvalResult:
    """Score every estimate of ``input_dir`` that has a truth file; write figures, JSON and CSV (see module doc)."""
    from ..io.atomic import write_json_atomic, write_text_atomic
    from ..io.model_card import add_test_scores, model_of_estimates
    from ..terminal import count, progress

    input_dir = Path(input_dir)
    truth_dir = Path(params.truth_dir) if params.truth_dir is not None else input_dir
    pairs, unpaired = find_pairs(input_dir, truth_dir)
    pair_figures, pooled_figures, json_path, csv_path = output_paths(input_dir, pairs)
    check_outputs(input_dir, [*pair_figures, *pooled_figures.values(), json_path, csv_path])
    # one pass over the files: each pair's matrix on the pair's own classes, re-indexed to the union at the end
    per_pair, one_sided = [], {}
    for pair in progress(pairs, desc="pairs", unit="pair") if len(pairs) > 1 else pairs:
        only, names, confusion = pair_matrix(pair, params.resize)
        if only:
            one_sided.setdefault(only, []).append(pair.estimate.name)
        per_pair.append((pair, names, confusion))
    for only, estimates in one_sided.items():
        where = (f"{estimates[0]} and its truth" if len(estimates) == 1
                 else f"{len(estimates)} pairs ({estimates[0]}, ...)")
        log.warning("%s: class(es) %s; each is scored as a class the other file never has (if they are the same "
                    "class, make the names match)", where, ", ".join(only))
    union = union_labels([names for _, names, _ in per_pair])
    results, pooled = [], {}
    for (pair, names, small), figure in zip(per_pair, pair_figures):
        cm = embed_confusion(small, names, union)
        scores = scores_from_confusion(cm, union)
        results.append(PairResult(pair, scores, _figure(cm, union, _title(pair.estimate.name, scores), figure)))
        pooled[pair.kind] = pooled.get(pair.kind, 0) + cm
    overall = {kind: scores_from_confusion(cm, union) for kind, cm in pooled.items()}
    n_pairs = {kind: sum(r.pair.kind == kind for r in results) for kind in pooled}
    figures = {kind: _figure(cm, union, _title(f"all {n_pairs[kind]} images ({kind})", overall[kind]),
                             pooled_figures[kind]) for kind, cm in pooled.items()}
    report = {
        "classes": union,
        "pairs": [{"estimate": r.pair.estimate.name, "truth": str(r.pair.truth), "kind": r.pair.kind,
                   "scores": r.scores.to_dict()} for r in results],
        "overall": {kind: {"n_pairs": n_pairs[kind], "scores": s.to_dict()} for kind, s in overall.items()},
        "unpaired": [p.name for p in unpaired],
    }
    write_json_atomic(json_path, report, indent=1)
    rows = [("pair", r.pair.kind, r.pair.estimate.name, r.pair.truth.name, r.scores) for r in results]
    rows += [("overall", kind, "", "", s) for kind, s in overall.items()]
    write_text_atomic(csv_path, _csv_text(rows, union))
    for kind, s in overall.items():  # the model card of the model that made the estimates, when it is known
        model = model_of_estimates([r.pair.estimate for r in results if r.pair.kind == kind])
        if model is not None:
            add_test_scores(model, "test_pixels", input_dir, s.to_dict(), count(n_pairs[kind], "photograph"), params)
    return PixelEvalResult(results, overall, figures, unpaired, json_path, csv_path)
