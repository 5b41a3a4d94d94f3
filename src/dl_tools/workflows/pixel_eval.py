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

The pooled scores of each kind get a 95 % interval from a cluster bootstrap over its photographs
(``intervals.score_intervals``: photographs resampled, their confusion matrices summed, the scores recomputed);
pixels of one photograph are not independent, so a pixel-level interval would be far too narrow. The scores of a
single pair have none. ``compare`` (A, B) adds the paired difference B - A of every score over the same
photographs, each resampled for both (``intervals.paired_difference``); A and B name a kind of the input folder
(``_ares``), a folder of results of one kind, or ``FOLDER/KIND``.

Writes into the estimates' folder: ``<estimate name>_cm.png`` per pair, ``pixel_eval_cm.png`` for the pooled
pairs (``pixel_eval<kind>_cm.png`` when there are several kinds), ``pixel_eval.json``, ``pixel_eval.csv`` and
``pixel_eval.html`` (a self-contained page: scores with intervals, confusion matrices, the comparison, and the
photographs of lowest pixel accuracy beside their truth and estimate). Every file is read and checked, and every
output name checked, before the first output is written.
"""

from __future__ import annotations

import csv
import html
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
    SAMPLE_SUFFIX,
    pixel_eval_outputs,
    pixel_eval_report,
    raster_estimate,
)
from ..intervals import DEFAULT_RESAMPLES, PairedDifference, ScoreIntervals, check_resamples, scores_record
from ..io.images import check_input_dir
from ..metrics import Scores, confusion_matrix, scores_from_confusion
from .eval_report import WORST_SHOWN, figure_html, scores_html, title_with_interval

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class PixelEvalParams:
    """truth_dir: folder of the ``*_mres.mat`` files (default: the estimates' folder).
    resize: nearest-neighbour resize an estimate to its truth's shape instead of refusing a size mismatch.
    bootstrap: resamples of the photographs for the intervals (0: none); seed: their random seed.
    compare: (A, B) results to compare (module doc), or None. images_dir: where the report finds the photographs
    (default: the truth folder, then the estimates' folder)."""

    truth_dir: Path | None = None
    resize: bool = False
    bootstrap: int = DEFAULT_RESAMPLES
    seed: int = 0
    compare: tuple[str, str] | None = None
    images_dir: Path | None = None

    def __post_init__(self):
        check_resamples(self.bootstrap)


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
    intervals: dict[str, ScoreIntervals]  # kind -> intervals of the pooled scores
    figures: dict[str, Path]        # kind -> pooled confusion figure
    unpaired: list[Path]            # estimates without a truth file
    json_path: Path
    csv_path: Path
    html_path: Path
    comparison: Comparison | None = None


@dataclass
class Comparison:
    """The paired comparison of results A and B (``PixelEvalParams.compare``) over the same photographs."""

    name_a: str
    name_b: str
    photographs: list[str]          # base names, in the order of the confusion stacks
    scores_a: Scores
    scores_b: Scores
    paired: PairedDifference        # B - A

    def sentences(self) -> list[str]:
        return self.paired.sentences(self.name_a, self.name_b, self.scores_a.to_dict(), self.scores_b.to_dict())

    def to_dict(self) -> dict:
        return {"a": self.name_a, "b": self.name_b, "difference_is": "b - a", "photographs": self.photographs,
                "scores_a": self.scores_a.to_dict(), "scores_b": self.scores_b.to_dict(), **self.paired.to_dict(),
                "sentences": self.sentences()}


def split_estimate_name(path: Path) -> tuple[str, str]:
    """(base, kind) of an estimate file name: ``a_b_ares_96.mat`` -> (``a_b``, ``_ares_96``)."""
    stem = path.name[: -len(".mat")]
    cut = stem.rfind(ESTIMATE_MARK)
    return stem[:cut], stem[cut:]


def find_pairs(input_dir: Path, truth_dir: Path, flag: str = "--input") -> tuple[list[Pair], list[Path]]:
    """Pairs (estimate, truth) of the folders, and the estimates that have no truth file; errors about
    ``input_dir`` name ``flag``."""
    for name, folder, files in ((flag, input_dir, f"*{ESTIMATE_MARK}*.mat"),
                                ("--truth-dir", truth_dir, f"*{MANUAL_SUFFIX}")):
        check_input_dir(folder, name, f"give the folder of the {files} files")
    # names starting with '.' are temporary files of an interrupted writer, never results
    estimates = sorted(p for p in input_dir.glob(f"*{ESTIMATE_MARK}*.mat")
                       if p.is_file() and not p.name.startswith("."))
    rasters = raster_pairs(input_dir, truth_dir, {split_estimate_name(p) for p in estimates})
    if not estimates and not rasters:
        raise InputError(f"{flag}: no *{ESTIMATE_MARK}*.mat files in {input_dir}; run "
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
    from ..io.windowed_geotiff import raster_info
    from .raster_pairs import check_grids, pair_class_names, raster_confusion

    truth_labels, estimate_labels = pair_class_names(pair.truth, pair.estimate)
    only = check_pair_classes(pair, truth_labels, estimate_labels)
    check_grids(raster_info(pair.truth), raster_info(pair.estimate), resize)
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


def _title(name: str, scores: Scores, intervals: ScoreIntervals | None = None) -> str:
    """A confusion figure's title: ``name``, then accuracy, macro F1 and mean IoU (with their intervals if any)."""
    intervals = intervals or ScoreIntervals(1, 0, 0)
    accuracy, macro_f1, mean_iou = (title_with_interval(label, scores, intervals, name) for label, name in
                                    (("accuracy", "accuracy"), ("macro F1", "macro_f1"), ("mean IoU", "mean_iou")))
    return f"{name}\n{accuracy}, {macro_f1}\n{mean_iou}"


SUMMARY_FIELDS = ("n_samples", "accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
                  "weighted_recall", "weighted_f1", "mean_iou", "frequency_weighted_iou", "kappa", "balanced_accuracy")


def _csv_text(rows: list[tuple[str, str, str, str, dict, ScoreIntervals | None]], union: list[str]) -> str:
    """One row per pair, per pooled kind and per comparison: summary scores, then F1 and IoU of every class (blank
    = not scored), then the low and high bound of each of those (blank = no interval). ``rows``: (scope, kind,
    estimate, truth, values {field of Scores: value}, intervals or None)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    scored = [*SUMMARY_FIELDS[1:], *[("f1", k) for k in range(len(union))], *[("iou", k) for k in range(len(union))]]
    names = [*SUMMARY_FIELDS[1:], *[f"f1:{n}" for n in union], *[f"iou:{n}" for n in union]]
    writer.writerow(["scope", "kind", "estimate", "truth", *SUMMARY_FIELDS, *names[len(SUMMARY_FIELDS) - 1:],
                     *[f"{name}:{end}" for name in names for end in ("low", "high")]])

    def fmt(value):
        if value is None or isinstance(value, float) and np.isnan(value):
            return ""
        return f"{value:.6f}" if isinstance(value, float) else value

    for scope, kind, estimate, truth, values, intervals in rows:
        cells = [fmt(values.get(name)) for name in SUMMARY_FIELDS]
        cells += [fmt(values[name][k]) for name, k in scored[len(SUMMARY_FIELDS) - 1:]]
        for item in scored:
            bounds = None if intervals is None else intervals.interval(*item) if isinstance(item, tuple) \
                else intervals.interval(item)
            cells += ["", ""] if bounds is None else [fmt(bounds[0]), fmt(bounds[1])]
        writer.writerow([scope, kind, estimate, truth, *cells])
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


def read_confusions(pairs: list[Pair], resize: bool) -> list[tuple[Pair, list[str], np.ndarray]]:
    """(pair, its classes, its confusion matrix on those classes) of each pair, in one pass over the files; a
    warning names the classes found in one file only."""
    from ..terminal import progress

    per_pair, one_sided = [], {}
    for pair in progress(pairs, desc="pairs", unit="pair") if len(pairs) > 1 else pairs:
        only, names, confusion = pair_matrix(pair, resize)
        if only:
            one_sided.setdefault(only, []).append(pair.estimate.name)
        per_pair.append((pair, names, confusion))
    for only, estimates in one_sided.items():
        where = (f"{estimates[0]} and its truth" if len(estimates) == 1
                 else f"{len(estimates)} pairs ({estimates[0]}, ...)")
        log.warning("%s: class(es) %s; each is scored as a class the other file never has (if they are the same "
                    "class, make the names match)", where, ", ".join(only))
    return per_pair


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "") if names else "none"


def compared_pairs(spec: str, input_dir: Path, truth_dir: Path | None, here: list[Pair]) -> list[Pair]:
    """The pairs of the results a ``--compare`` value names: a kind of ``input_dir`` (whose pairs are ``here``), a
    folder of results of one kind, or ``FOLDER/KIND``; InputError naming the kinds present when there is none."""
    path = Path(spec)
    folder, kind = (path, None) if path.is_dir() else (input_dir, spec) if len(path.parts) == 1 else \
        (path.parent, path.name)
    if folder.resolve() == input_dir.resolve():
        pairs = here
    else:
        check_input_dir(folder, f"--compare {spec}", f"give a kind of --input (e.g. {ESTIMATE_MARK}_96), a folder "
                                                     "of results or FOLDER/KIND")
        pairs = find_pairs(folder, truth_dir or folder, flag=f"--compare {spec}")[0]
    kinds = sorted({pair.kind for pair in pairs})
    if kind is None and len(kinds) > 1:
        raise InputError(f"--compare {spec}: {folder} holds results of several kinds ({', '.join(kinds)}); give "
                         f"{Path(spec) / kinds[0]} or another of them")
    kind = kinds[0] if kind is None else kind
    if kind not in kinds:
        raise InputError(f"--compare {spec}: no {kind} results in {folder} (present: {', '.join(kinds)}); give one "
                         "of those")
    return [pair for pair in pairs if pair.kind == kind]


def check_compared(params: PixelEvalParams, input_dir: Path, here: list[Pair]) -> tuple[list[Pair], list[Pair]]:
    """The pairs of A and B of ``params.compare``, in the same order of photographs; InputError naming the
    photographs that only one of them has."""
    a, b = ({split_estimate_name(pair.estimate)[0]: pair for pair in compared_pairs(spec, input_dir,
                                                                                    params.truth_dir, here)}
            for spec in params.compare)
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        name_a, name_b = params.compare
        raise InputError(f"--compare: {name_a} and {name_b} are not results of the same photographs (only in "
                         f"{name_a}: {_listed(only_a)}; only in {name_b}: {_listed(only_b)}); compare results of "
                         "the same photographs")
    return [a[base] for base in sorted(a)], [b[base] for base in sorted(a)]


def compare_results(params: PixelEvalParams, compared: tuple[list[Pair], list[Pair]], read: dict) -> Comparison:
    """The paired comparison B - A of the ``compared`` pairs (``check_compared``) over the same photographs.
    read: {estimate path: (pair, classes, confusion)} of the pairs already read; the others are read here."""
    from ..intervals import paired_difference

    missing = [pair for pairs in compared for pair in pairs if pair.estimate not in read]
    read = dict(read)
    for item in read_confusions(missing, params.resize):
        read[item[0].estimate] = item
    union = union_labels([read[pair.estimate][1] for pairs in compared for pair in pairs])
    stack_a, stack_b = (np.stack([embed_confusion(read[pair.estimate][2], read[pair.estimate][1], union)
                                  for pair in pairs]) for pairs in compared)
    return Comparison(*params.compare, [split_estimate_name(pair.estimate)[0] for pair in compared[0]],
                      scores_from_confusion(stack_a.sum(axis=0), union), scores_from_confusion(stack_b.sum(axis=0),
                                                                                               union),
                      paired_difference(stack_a, stack_b, params.bootstrap, params.seed))


def evaluate_pixels(input_dir: str | os.PathLike, params: PixelEvalParams = PixelEvalParams()) -> PixelEvalResult:
    """Score every estimate of ``input_dir`` that has a truth file; write figures, JSON, CSV and the HTML page (see
    module doc)."""
    from dataclasses import asdict

    from ..intervals import score_intervals
    from ..io.atomic import write_json_atomic, write_text_atomic
    from ..io.model_card import add_test_scores, model_of_estimates
    from ..terminal import count

    input_dir = Path(input_dir)
    truth_dir = Path(params.truth_dir) if params.truth_dir is not None else input_dir
    pairs, unpaired = find_pairs(input_dir, truth_dir)
    pair_figures, pooled_figures, json_path, csv_path = output_paths(input_dir, pairs)
    html_path = pixel_eval_report(input_dir)
    check_outputs(input_dir, [*pair_figures, *pooled_figures.values(), json_path, csv_path, html_path])
    compared = check_compared(params, input_dir, pairs) if params.compare else None
    per_pair = read_confusions(pairs, params.resize)
    comparison = None if compared is None else compare_results(params, compared, {
        pair.estimate: (pair, names, cm) for pair, names, cm in per_pair})
    union = union_labels([names for _, names, _ in per_pair])
    results, stacks = [], {}
    for (pair, names, small), figure in zip(per_pair, pair_figures):
        cm = embed_confusion(small, names, union)
        scores = scores_from_confusion(cm, union)
        results.append(PairResult(pair, scores, _figure(cm, union, _title(pair.estimate.name, scores), figure)))
        stacks.setdefault(pair.kind, []).append(cm)
    overall = {kind: scores_from_confusion(np.sum(cms, axis=0), union) for kind, cms in stacks.items()}
    intervals = {kind: score_intervals(np.stack(cms), params.bootstrap, params.seed) for kind, cms in stacks.items()}
    figures = {kind: _figure(np.sum(cms, axis=0), union,
                             _title(f"all {len(cms)} images ({kind})", overall[kind], intervals[kind]),
                             pooled_figures[kind]) for kind, cms in stacks.items()}
    report = {
        "classes": union,
        "pairs": [{"estimate": r.pair.estimate.name, "truth": str(r.pair.truth), "kind": r.pair.kind,
                   "scores": r.scores.to_dict()} for r in results],
        "overall": {kind: {"n_pairs": len(stacks[kind]), **scores_record(s, intervals[kind])}
                    for kind, s in overall.items()},
        "unpaired": [p.name for p in unpaired],
    }
    if comparison is not None:
        report["comparison"] = comparison.to_dict()
    write_json_atomic(json_path, report, indent=1)
    rows = [("pair", r.pair.kind, r.pair.estimate.name, r.pair.truth.name, asdict(r.scores), None) for r in results]
    rows += [("overall", kind, "", "", asdict(s), intervals[kind]) for kind, s in overall.items()]
    if comparison is not None:
        rows.append(("difference", f"{comparison.name_b} - {comparison.name_a}", "", "",
                     comparison.paired.difference, comparison.paired.intervals))
    write_text_atomic(csv_path, _csv_text(rows, union))
    for kind, s in overall.items():  # the model card of the model that made the estimates, when it is known
        model = model_of_estimates([r.pair.estimate for r in results if r.pair.kind == kind])
        if model is not None:
            add_test_scores(model, "test_pixels", input_dir, s.to_dict(), count(len(stacks[kind]), "photograph"),
                            params, intervals=scores_record(s, intervals[kind]).get("intervals"))
    result = PixelEvalResult(results, overall, intervals, figures, unpaired, json_path, csv_path, html_path,
                             comparison)
    pixel_report(result, union, {kind: len(cms) for kind, cms in stacks.items()},
                 [params.images_dir, truth_dir, input_dir])
    return result


def find_photograph(base: str, folders: list[Path | None]) -> Path | None:
    """The photograph ``<base>.<ext>`` (or step 8's ``<base>_RGB.<ext>``) in the first of ``folders`` holding it."""
    from ..io.images import find_image

    for folder in folders:
        for stem in (base, base + SAMPLE_SUFFIX):
            found = find_image(folder, stem) if folder is not None else None
            if found is not None:
                return found
    return None


#: width in px of the photographs and label maps shown in pixel_eval.html
REPORT_WIDTH = 360


def _worst_images_html(items: list[PairResult], union: list[str], folders: list[Path | None]) -> list[str]:
    """For each pair of ``items``: its photograph (if found), truth and estimate side by side with its scores."""
    from ..arrays.resize import resize_image, resize_labels
    from ..io.html_report import image_html, image_uri, paragraph, swatch
    from ..io.images import read_image
    from ..io.mat import read_label_mat
    from ..plotting import class_palette, colorize

    palette = class_palette(len(union))
    parts = ["<p>Classes: " + " ".join(swatch(name, color) for name, color in zip(union, palette)) + "</p>"]
    for item in items:
        if item.pair.estimate.suffix.lower() != ".mat":  # a raster of any size: its preview figure shows it
            parts.append(f"<h3>{html.escape(item.pair.estimate.name)}</h3>" + paragraph(
                f"pixel accuracy {item.scores.accuracy:.3f}, macro F1 {item.scores.macro_f1:.3f}, mean IoU "
                f"{item.scores.mean_iou:.3f} (a label GeoTIFF: see the step's preview figure)"))
            continue
        truth, estimate = read_label_mat(item.pair.truth), read_label_mat(item.pair.estimate)
        height, width = truth.shape
        shape = (max(1, round(height * REPORT_WIDTH / width)), REPORT_WIDTH)
        panels, note = [], " (photograph not found: give --images DIR)"
        photograph = find_photograph(split_estimate_name(item.pair.estimate)[0], folders)
        if photograph is not None:
            try:  # an illustration: a photograph that cannot be read is said so, the scores stand
                panels.append(image_html(image_uri(resize_image(read_image(photograph), shape), ".jpg"),
                                         caption=f"image {photograph.name}"))
                note = ""
            except (InputError, OSError) as exc:
                note = f" (photograph {photograph.name} not shown: {exc})"
        for what, label_file, path in (("truth", truth, item.pair.truth), ("estimate", estimate, item.pair.estimate)):
            mapped = to_union(resize_labels(label_file.label_image, shape), label_file.labels, union)
            panels.append(image_html(image_uri(colorize(mapped, palette)), caption=f"{what} {path.name}"))
        s = item.scores
        parts.append(f"<h3>{html.escape(item.pair.estimate.name)}</h3>" + paragraph(
            f"pixel accuracy {s.accuracy:.3f}, macro F1 {s.macro_f1:.3f}, mean IoU {s.mean_iou:.3f}{note}")
                     + "<div>" + "".join(panels) + "</div>")
    return parts


def _comparison_html(comparison: Comparison) -> list[str]:
    from ..io.html_report import paragraph, table_html
    from ..metrics import format_value
    from .eval_report import SUMMARY_ROWS

    paired, level = comparison.paired, f"{comparison.paired.intervals.confidence_level:.0%} interval"
    rows = [(label, format_value(getattr(comparison.scores_a, name)), format_value(getattr(comparison.scores_b, name)),
             format_value(paired.difference[name], paired.intervals.interval(name), sign=True))
            for label, name in SUMMARY_ROWS]
    header = ["score", comparison.name_a, comparison.name_b, f"{comparison.name_b} - {comparison.name_a} [{level}]"]
    return ([paragraph(line) for line in comparison.sentences()]
            + [table_html(header, rows, caption=f"{len(comparison.photographs)} photographs, each resampled for both"),
               paragraph(paired.intervals.describe(), note=True)])


def pixel_report(result: PixelEvalResult, union: list[str], n_pairs: dict[str, int], folders: list) -> Path:
    """Write pixel_eval.html: per kind its pooled scores with intervals and confusion matrix, the comparison, and
    per kind with two or more images the ``WORST_SHOWN`` of lowest pixel accuracy (image, truth, estimate)."""
    from ..io.html_report import write_html

    sections = []
    for kind, scores in result.overall.items():
        title = f"all {n_pairs[kind]} images ({kind})"
        sections.append((f"Scores of {kind}*.mat", [
            *scores_html(scores, result.intervals[kind], caption=f"{title}, {scores.n_samples} pixels"),
            figure_html(result.figures[kind], f"confusion matrix of {title}")]))
    if result.comparison is not None:
        sections.append((f"{result.comparison.name_b} against {result.comparison.name_a}",
                         _comparison_html(result.comparison)))
    for kind in result.overall:
        items = sorted((item for item in result.pairs if item.pair.kind == kind), key=lambda i: i.scores.accuracy)
        if len(items) > 1:
            sections.append((f"Lowest pixel accuracy ({kind}*.mat, {min(WORST_SHOWN, len(items))} of {len(items)} "
                             "images)", _worst_images_html(items[:WORST_SHOWN], union, folders)))
    return write_html(result.html_path, f"Pixel evaluation of {result.html_path.parent}", sections)
