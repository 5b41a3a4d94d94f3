"""Tutorial step 5: score a retrained model on class folders of tiles (ideally the test/ tiles).

Takes n random tiles per class folder (seeded; all when fewer), classifies them in batches (tiles of another size
are resized to the model's input) and compares with the folder name. Folder names must be class names of the
labels file exactly (the legacy matched prefixes and scored ``dune`` as ``duneveg``).

Every score gets a 95 % interval from a cluster bootstrap over the source photographs of the tiles
(``intervals.score_intervals``: photographs resampled, their confusion matrices summed, the scores recomputed),
as the tiles of one photograph are not independent; tiles must be named ``<photograph>_<row>_<col>.jpg`` as
retile.py names them (otherwise, or with fewer than 5 photographs, a note says why there is no interval).

Writes into ``<image_dir>``: ``test_cm.png`` (row-normalised confusion matrix, accuracy and its interval in the
title), ``tile_eval.json`` (every number, the intervals, and the scores per source photograph, most misclassified
tiles first: where to look for labelling errors), ``tile_eval.csv`` (every score with its interval, one a row) and
``tile_eval.html`` (a self-contained page: scores, confusion matrix, the misclassified tiles of the worst
photographs).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import tile_eval_outputs
from ..intervals import DEFAULT_RESAMPLES, ScoreIntervals, check_resamples, scores_record
from ..terminal import count
from .eval_report import WORST_SHOWN, figure_html, score_csv_text, score_rows, scores_html, title_with_interval

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class EvalTilesParams:
    """n: tiles drawn at random per class (-n, default 100). seed: random seed (of the tiles drawn and of the
    bootstrap). batch_size: tiles per model call. bootstrap: resamples of photographs for the intervals (0: none)."""

    n: int = 100
    seed: int = 0
    batch_size: int = 64
    bootstrap: int = DEFAULT_RESAMPLES

    def __post_init__(self):
        check_resamples(self.bootstrap)
        if self.n < 1:
            raise InputError(f"-n must be at least 1, got {self.n}")
        if self.batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {self.batch_size}")


@dataclass
class EvalTilesResult:
    scores: object                 # metrics.Scores over the labels file's classes
    intervals: ScoreIntervals      # of every score, by resampling the tiles' photographs
    mean_posterior: float          # mean probability of the predicted class, all tiles
    class_posterior: dict          # class -> mean probability of the predicted class over its tiles
    files: list[str]               # tiles scored
    photographs: list[dict]        # photograph_scores() of the tiles scored, most misclassified first
    cm_path: Path
    json_path: Path
    csv_path: Path
    html_path: Path


def photograph_scores(sources, truth: np.ndarray, estimate: np.ndarray, labels: list[str]) -> list[dict]:
    """Tile accuracy per source photograph, the photographs with the most misclassified tiles first (then the
    lowest accuracy): with a few tiles drawn per class, a count is steadier than a ratio of 1 in 3.

    sources: (n,) photograph of each tile (``file_contract.tile_source``; None = unknown, not scored); truth, estimate:
    (n,) class indices into ``labels``. Each entry: photograph, tiles, wrong (misclassified tiles), accuracy and
    most_frequent_error ({truth, estimate, tiles} of the commonest mistake, or None when every tile is right).
    """
    names = np.array(sources, dtype=object)
    rows = []
    for photograph in sorted({name for name in sources if name is not None}):
        mine = names == photograph
        wrong = mine & (truth != estimate)
        error = None
        if wrong.any():
            pairs, counts = np.unique(np.stack([truth[wrong], estimate[wrong]]), axis=1, return_counts=True)
            true_class, estimated = pairs[:, counts.argmax()]
            error = {"truth": labels[true_class], "estimate": labels[estimated], "tiles": int(counts.max())}
        rows.append({"photograph": photograph, "tiles": int(mine.sum()), "wrong": int(wrong.sum()),
                     "accuracy": float(1 - wrong.sum() / mine.sum()), "most_frequent_error": error})
    return sorted(rows, key=lambda row: (-row["wrong"], row["accuracy"]))


def class_folders(image_dir: Path, labels: list[str], labels_path) -> dict[str, list[Path]]:
    """Class folder name -> its image files; every folder name must be in ``labels`` (InputError lists both)."""
    from ..io.images import check_input_dir, is_image_file

    check_input_dir(image_dir, "--image_dir", "give a folder of class subfolders of tiles")
    folders = sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError(f"--image_dir: {image_dir} has no class subfolders; give the tile_<t> folder of retile.py")
    unknown = [p.name for p in folders if p.name not in labels]
    if unknown:
        raise InputError(f"--image_dir: class folders {unknown} are not classes of the labels file {labels_path} "
                         f"({labels}); folder names must equal class names exactly")
    tiles = {p.name: sorted(f for f in p.iterdir() if is_image_file(f)) for p in folders}
    empty = [name for name, files in tiles.items() if not files]
    if empty:
        raise InputError(f"--image_dir: class folders {empty} in {image_dir} hold no images; add tiles or remove them")
    return tiles


def evaluate_tiles(image_dir: str | os.PathLike, labels_path: str | os.PathLike, model_path: str | os.PathLike,
                   params: EvalTilesParams) -> EvalTilesResult:
    """Classify n random tiles per class folder with the frozen model; score, plot and save (see module doc)."""
    from ..arrays.resize import resize_image
    from ..file_contract import tile_source
    from ..io.atomic import write_json_atomic, write_text_atomic
    from ..io.figures import save_figure
    from ..io.images import read_image
    from ..io.model_card import add_test_scores
    from ..io.text import read_labels
    from ..metrics import confusion_matrix, scores_from_confusion
    from ..models.frozen import FrozenClassifier
    from ..plotting import confusion_figure
    from ..terminal import progress

    image_dir = Path(image_dir)
    labels = read_labels(labels_path)
    tiles = class_folders(image_dir, labels, labels_path)
    model = FrozenClassifier(model_path)
    if model.n_classes != len(labels):
        raise InputError(f"model {model_path} has {model.n_classes} classes but labels file {labels_path} has "
                         f"{len(labels)}; give the labels file written with the model by retrain.py")
    rng = np.random.default_rng(params.seed)
    files, truth = [], []
    for name, paths in tiles.items():
        pick = np.sort(rng.choice(len(paths), size=min(params.n, len(paths)), replace=False))
        files += [paths[i] for i in pick]
        truth += [labels.index(name)] * len(pick)
    probs = np.empty((len(files), len(labels)), np.float32)
    resized = 0
    with progress(total=len(files), desc="classifying tiles", unit="tile") as bar:
        for start in range(0, len(files), params.batch_size):
            batch = []
            for path in files[start:start + params.batch_size]:
                image = read_image(path)
                if image.shape[:2] != model.input_size:
                    resized += 1
                    image = resize_image(image, model.input_size)
                batch.append(image)
            probs[start:start + len(batch)] = model.predict(np.stack(batch), batch_size=params.batch_size)
            bar.update(len(batch))
    if resized:
        log.info("%d tiles resized to the model input of %dx%d px", resized, model.input_size[1], model.input_size[0])
    truth = np.asarray(truth, dtype=np.int64)
    estimate = probs.argmax(axis=1)
    posterior = probs.max(axis=1)
    scores = scores_from_confusion(confusion_matrix(truth, estimate, len(labels)), labels)
    sources = [tile_source(f) for f in files]
    intervals = photograph_intervals(sources, truth, estimate, len(labels), params)
    photographs = photograph_scores(sources, truth, estimate, labels)
    class_posterior = {name: float(posterior[truth == labels.index(name)].mean()) for name in tiles}
    cm_path, json_path, csv_path, html_path = tile_eval_outputs(image_dir)
    title = (f"{Path(model_path).name}: {count(len(files), 'tile')}, "
             f"{title_with_interval('accuracy', scores, intervals, 'accuracy')}")
    save_figure(confusion_figure(np.asarray(scores.confusion), labels, title=title), cm_path, dpi=200)
    report = {"image_dir": str(image_dir), "labels_file": str(labels_path), "model": str(model_path),
              "n_per_class": params.n, "seed": params.seed, "tiles_per_class": {k: len(v) for k, v in tiles.items()},
              "mean_posterior": float(posterior.mean()), "class_mean_posterior": class_posterior,
              **scores_record(scores, intervals), "photographs": photographs}
    write_json_atomic(json_path, report, indent=2)
    write_text_atomic(csv_path, score_csv_text(score_rows(scores, intervals)))
    add_test_scores(model_path, "test_class_tiles", image_dir, report["scores"], count(len(files), "tile"), params,
                    intervals=report.get("intervals"))
    tile_report(html_path, title, scores, intervals, photographs, cm_path,
                [(Path(f), labels[t], labels[e], float(p)) for f, t, e, p in zip(files, truth, estimate, posterior)])
    return EvalTilesResult(scores, intervals, float(posterior.mean()), class_posterior, [str(f) for f in files],
                           photographs, cm_path, json_path, csv_path, html_path)


def photograph_intervals(sources, truth: np.ndarray, estimate: np.ndarray, n_classes: int,
                         params: EvalTilesParams) -> ScoreIntervals:
    """Intervals of every score by resampling the tiles' photographs (``sources``, one per tile, None when the
    tile is not named by retile.py: then there is no interval, and the note says why)."""
    from ..intervals import score_intervals
    from ..metrics import confusion_by_group

    unnamed = sum(source is None for source in sources)
    if unnamed:
        return ScoreIntervals(0, params.bootstrap, params.seed,
                              note=f"no confidence intervals: {count(unnamed, 'tile')} not named "
                                   "<photograph>_<row>_<col> (as retile.py names them), so the photographs to "
                                   "resample are unknown")
    _, confusions = confusion_by_group(sources, truth, estimate, n_classes)
    return score_intervals(confusions, params.bootstrap, params.seed)


#: misclassified tiles shown per photograph in tile_eval.html
TILES_SHOWN = 12


def tile_report(path: Path, title: str, scores, intervals: ScoreIntervals, photographs: list[dict], figure: Path,
                tiles: list[tuple[Path, str, str, float]]) -> Path:
    """Write tile_eval.html: the scores with their intervals, the confusion matrix, and for the ``WORST_SHOWN``
    photographs with the most misclassified tiles, those tiles (up to ``TILES_SHOWN``) with their true and estimated
    class. figure: the confusion matrix's PNG; tiles: (file, truth, estimate, probability of the estimate) per tile
    scored."""
    from ..file_contract import tile_source
    from ..io.html_report import Markup, image_html, image_uri, paragraph, table_html, write_html
    from ..io.images import read_image

    worst = [row for row in photographs if row["wrong"]][:WORST_SHOWN]
    parts = [paragraph(f"Photographs with the most misclassified tiles (the {len(worst)} first of "
                       f"{len(photographs)}, by the number of wrong tiles), and their misclassified tiles.")]
    for row in worst:
        wrong = [tile for tile in tiles if tile_source(tile[0]) == row["photograph"] and tile[1] != tile[2]]
        shown = [(Markup(image_html(image_uri(read_image(file)), alt=file.name)), file.name, true, est, f"{p:.2f}")
                 for file, true, est, p in wrong[:TILES_SHOWN]]
        parts.append(table_html(["tile", "file", "truth", "estimate", "probability"], shown,
                                caption=f"{row['photograph']}: {row['wrong']} of {count(row['tiles'], 'tile')} "
                                        f"wrong (accuracy {row['accuracy']:.3f})"
                                        + (f", {TILES_SHOWN} shown" if len(wrong) > TILES_SHOWN else "")))
    sections = [("Scores", scores_html(scores, intervals, caption=count(scores.n_samples, "tile"))),
                ("Confusion matrix", [figure_html(figure, f"confusion matrix: {title}")]),
                ("Photographs to look at first", parts if worst else [paragraph("Every tile is right.")])]
    return write_html(path, f"Tile evaluation: {title}", sections)
