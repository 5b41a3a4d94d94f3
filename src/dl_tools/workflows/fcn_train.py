"""Method 2, step 8b: train the fully convolutional network on the tutorial's data layout.

Data layout (the legacy's, under ``data_dir``; any supported image type, any depth of subfolders)::

    samples/RGB/{train,val}/<sub>/<name>_RGB.<ext>
    labels/gtFine/{train,val}/<sub>/<name>_gtFine_labelIds.png   (make_labels.py writes these)

A sample without a label image is skipped with a warning; a split left empty is an error. Every image and label
image is resized to ``image_size`` (images: area/bilinear, labels: nearest neighbour, so they stay class indices),
whatever its own size: images of mixed sizes are allowed, and the median resize factor is recorded so inference
shows the network the same pixel scale.

Everything (the run folder's name, labeldefs, both splits, the network with its pretrained weights) is checked
before the run folder is created, or an old one deleted with ``overwrite``: a mistake leaves everything as it was.
A run that fails before its first epoch ends leaves no run folder either; later, the checkpoints stay.

The run folder (``--name``) receives::

    settings.json        training settings, class names and colours, image size, backbone, pixel scale
    labeldefs.txt        the classes (so infer needs no labeldefs)
    history.json         per-epoch loss, accuracy, mean IoU (train and val) and seconds
    best.weights.h5      weights of the epoch with the highest validation mean IoU (used by infer)
    last.keras           the whole model with optimizer state after the last epoch (used by --resume)
    training_curves.png  loss and mean IoU per epoch
    tb/                  TensorBoard logs (tensorboard --logdir RUN/tb)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..arrays.color import standardise_channels
from ..arrays.resize import resize_image, resize_labels
from ..errors import InputError
from ..file_contract import (
    BEST_WEIGHTS,
    IMAGE_EXTENSIONS,
    LABELDEFS_NAME,
    LABELIDS_SUFFIX,
    LAST_CHECKPOINT,
    RUN_HISTORY,
    RUN_SETTINGS,
    SAMPLE_SUFFIX,
    TRAINING_CURVES,
    sample_name,
)
from ..io.atomic import atomic_path, check_output_dir, write_text_atomic
from ..io.images import is_image_file, read_image, read_raw
from ..io.run_folder import read_run_history, read_run_settings
from ..io.text import find_labeldefs, read_labeldefs, write_labeldefs
from ..models.fcn import BACKBONES, TRAIN_BACKBONE, check_image_shape
from ..terminal import count

log = logging.getLogger(__name__)

MONITOR = "val_mean_iou"


@dataclass(frozen=True)
class FCNTrainParams:
    """Training settings (the legacy's in brackets).

    epochs        : total epochs of the run (one epoch = one pass over the training images) [10].
    batch_size    : images per step [20; 4 here, as a CPU-friendly default].
    learning_rate : Adam step size [1e-4, hard-coded].
    image_size    : (H, W) network input in pixels, multiples of 32 [(256, 512)].
    backbone      : "mobilenetv2" (local ImageNet weights), "vgg16" (ImageNet weights downloaded by Keras) or
                    "tiny" (random weights; for tests).
    train_backbone: backbone weights that training changes: "none" (frozen ImageNet features: on the 30 demo
                    images as good as fine-tuning, and 3x faster), "top" (last stage) or "all".
    class_weights : weight each pixel's loss by median-frequency balancing of the training classes.
    early_stopping: stop after this many epochs without a better validation mean IoU; 0 = never.
    seed          : random seed of weights, shuffling and augmentation.
    standardise   : standardise each image's colour channels (``dl_tools.arrays.color``) before the network, in training
                    and inference alike [no]: photographs of different flights and light then look alike.
    """

    epochs: int = 10
    batch_size: int = 4
    learning_rate: float = 3e-3
    image_size: tuple[int, int] = (256, 512)
    backbone: str = "mobilenetv2"
    train_backbone: str = "none"
    class_weights: bool = False
    early_stopping: int = 0
    seed: int = 0
    standardise: bool = True

    def __post_init__(self):
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        if self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0.0 < self.learning_rate < 1.0:
            raise InputError(f"--learning-rate must be between 0 and 1, got {self.learning_rate}")
        if self.backbone not in BACKBONES:
            raise InputError(f"--backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        check_image_shape(self.image_size)
        if self.train_backbone not in TRAIN_BACKBONE:
            raise InputError(f"--train-backbone must be one of {', '.join(TRAIN_BACKBONE)}, "
                             f"got {self.train_backbone!r}")
        if self.early_stopping < 0:
            raise InputError(f"--early-stopping must be 0 (off) or a number of epochs, got {self.early_stopping}")


#: settings that define the network; a resumed run cannot change them
MODEL_FIELDS = ("backbone", "image_size", "train_backbone", "standardise")


@dataclass
class FCNTrainResult:
    """epochs_done: epochs of the run in total; epochs_new: those trained by this call (fewer on a resume)."""

    run_dir: Path
    epochs_done: int
    epochs_new: int
    best_epoch: int
    best_val_mean_iou: float
    seconds_per_epoch: float
    history: dict


@dataclass
class Split:
    """One split at the network size: images (n, H, W, 3) uint8, label_images (n, H, W) uint8, names, and the
    per-image resize factors (n, 2) = (network rows / image rows, network cols / image cols)."""

    images: np.ndarray
    label_images: np.ndarray
    names: list[str]
    scales: np.ndarray


def find_pairs(data_dir: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(sample, label image) pairs of ``split`` under ``data_dir`` (see module doc), sorted by sample path.

    Samples without a label image are skipped with a warning; none left is an InputError.
    """
    data_dir = Path(data_dir)
    sample_root = data_dir / "samples" / "RGB" / split
    label_root = data_dir / "labels" / "gtFine" / split
    if not sample_root.is_dir():
        raise InputError(f"--data-dir: {sample_root} does not exist; give the folder holding samples/RGB/{split} "
                         f"and labels/gtFine/{split} (e.g. demo_data/data)")
    samples = sorted(p for p in sample_root.rglob("*") if is_image_file(p))
    if not samples:
        raise InputError(f"--data-dir: no images in {sample_root} or its subfolders (looked for "
                         f"{', '.join(IMAGE_EXTENSIONS)} in any case); put the {split} photographs there as "
                         f"<folder>/<name>{SAMPLE_SUFFIX}.<ext>")
    pairs, unlabelled = [], []
    for sample in samples:
        label = label_root / sample.parent.relative_to(sample_root) / f"{sample_name(sample)}{LABELIDS_SUFFIX}"
        if label.is_file():
            pairs.append((sample, label))
        else:
            unlabelled.append(sample)
    for sample in unlabelled:
        log.warning("skipping %s: no label image %s", sample, f"{sample_name(sample)}{LABELIDS_SUFFIX}")
    if not pairs:
        raise InputError(f"no {split} sample in {sample_root} has a label image *{LABELIDS_SUFFIX} under "
                         f"{label_root} ({count(len(samples), 'image')} found); run semseg_fullyconv/make_labels.py on "
                         f"{label_root}/<folder> first")
    return pairs


def read_label_ids(path: Path, n_classes: int) -> np.ndarray:
    """(H, W) uint8 class map from a ``_gtFine_labelIds.png``; values must be class indices 0..N-1, or
    ``io.geotiff.LABEL_NODATA`` (255, ``models.fcn.NO_CLASS``) for pixels without data, never trained on."""
    from ..file_contract import LABEL_NODATA

    label_image = read_raw(path)
    if label_image.ndim != 2:
        raise InputError(f"{path} has {label_image.shape[2]} bands; a labelIds image has one (class indices): "
                         "make it with semseg_fullyconv/make_labels.py")
    classes = label_image[label_image != LABEL_NODATA]
    if classes.size and int(classes.max()) >= n_classes:
        raise InputError(f"{path} holds class {int(classes.max())} but labeldefs defines {n_classes} classes "
                         f"(0..{n_classes - 1}, and {LABEL_NODATA} for no data); remake the label images with the "
                         "same labeldefs.txt")
    return label_image.astype(np.uint8)


def load_split(pairs: list[tuple[Path, Path]], image_size: tuple[int, int], n_classes: int,
               standardise: bool = False) -> Split:
    """Read and resize every pair to ``image_size`` (see module doc); with ``standardise``, each resized image's
    channels are standardised (``dl_tools.arrays.color.standardise_channels``)."""
    from ..terminal import progress

    images, label_images, scales = [], [], []
    for sample, label in progress(pairs, desc="reading images", unit="image", leave=False):
        image = read_image(sample)
        label_image = read_label_ids(label, n_classes)
        if label_image.shape != image.shape[:2]:
            raise InputError(f"{label} is {label_image.shape[1]} x {label_image.shape[0]} px but its sample {sample} "
                             f"is {image.shape[1]} x {image.shape[0]} px; they must have the same size")
        scales.append((image_size[0] / image.shape[0], image_size[1] / image.shape[1]))
        small = resize_image(image, image_size)
        images.append(standardise_channels(small) if standardise else small)
        label_images.append(resize_labels(label_image, image_size))
    return Split(np.stack(images), np.stack(label_images), [sample_name(s) for s, _ in pairs], np.asarray(scales))


def params_from_settings(settings: dict) -> FCNTrainParams:
    """The FCNTrainParams stored in a run's settings (a run from before ``standardise`` existed did not use it)."""
    fields = {f.name for f in dataclasses.fields(FCNTrainParams)}
    stored = {"standardise": False} | settings["params"]
    return FCNTrainParams(**{key: value for key, value in stored.items() if key in fields})


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Raise InputError unless the run folder can be continued (``resume``), started, or replaced (``overwrite``);
    changes nothing."""
    check_output_dir(run_dir, "--name")
    if resume:
        if not (run_dir / LAST_CHECKPOINT).is_file():
            raise InputError(f"--resume: no checkpoint {run_dir / LAST_CHECKPOINT} to continue from; "
                             "train without --resume (add --overwrite to start the run again)")
        return
    if run_dir.exists():
        if not overwrite:
            raise InputError(f"--name: run folder {run_dir} already exists; give --resume to continue it, "
                             "--overwrite to start it again, or another --name")
        if any(run_dir.iterdir()) and not (run_dir / RUN_SETTINGS).is_file():
            raise InputError(f"--overwrite: {run_dir} is not a training run (no {RUN_SETTINGS}); refusing to delete it")


def _start_run_dir(run_dir: Path) -> None:
    """Create the (checked: ``_check_run_dir``) folder of a new run, deleting an old run of that name first."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)


def _save_atomic(path: Path, save) -> None:
    """Call a Keras ``save(file)`` method (which creates the file itself) with a temporary name, then rename."""
    with atomic_path(path, create=False) as tmp:
        save(str(tmp))


class _EpochRecorder:
    """``on_epoch_end`` of ``models.fcn_training.fit``: after every epoch, appends the epoch's logs to ``history`` and
    saves last.keras, best.weights.h5 (when the validation mean IoU improves), history.json and
    training_curves.png in ``run_dir``, and advances the progress bar ``bar``."""

    def __init__(self, run_dir: Path, history: dict, bar):
        self.run_dir, self.history, self.bar = run_dir, history, bar
        self.best = max(history.get(MONITOR, []), default=-np.inf)

    def __call__(self, epoch: int, logs: dict, model) -> None:
        from ..io.figures import save_figure
        from ..plotting import training_curves_figure

        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        _save_atomic(self.run_dir / LAST_CHECKPOINT, model.save)
        if logs.get(MONITOR, -np.inf) > self.best:
            self.best = logs[MONITOR]
            _save_atomic(self.run_dir / BEST_WEIGHTS, model.save_weights)
        write_text_atomic(self.run_dir / RUN_HISTORY, json.dumps(self.history, indent=1))
        save_figure(training_curves_figure(
            self.history, [("loss", ["loss", "val_loss"]), ("mean IoU", ["mean_iou", "val_mean_iou"])],
            title=self.run_dir.name), self.run_dir / TRAINING_CURVES)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{logs['loss']:.3f}", val_mIoU=f"{logs.get(MONITOR, float('nan')):.3f}")
        log.debug("epoch %d: %s", epoch + 1, logs)


def train_fcn(data_dir: str | Path, run_dir: str | Path, labeldefs: str | Path | None, params: FCNTrainParams,
              resume: bool = False, overwrite: bool = False, cache_dir=None) -> FCNTrainResult:
    """Train (or, with ``resume``, continue up to ``params.epochs``) the FCN; see the module doc for the files.

    labeldefs: the classes; None = the first labeldefs.txt in ``data_dir`` or a folder above it. A resumed run
    keeps its own classes (its copy of labeldefs.txt): giving ``labeldefs`` with ``resume`` is an InputError.
    cache_dir: where the backbone weights are kept (see ``dl_tools.models.backbones.models_dir``).
    """
    from ..models import fcn
    from ..models.fcn_training import load_checkpoint
    from ..models.random_seed import set_random_seed

    run_dir = Path(run_dir)
    if resume and labeldefs is not None:
        raise InputError(f"--labeldefs: a resumed run keeps its own classes ({run_dir / LABELDEFS_NAME}); "
                         "leave out --labeldefs")
    _check_run_dir(run_dir, resume, overwrite)
    pairs = {split: find_pairs(data_dir, split) for split in ("train", "val")}
    history: dict = {}
    if resume:
        stored = params_from_settings(read_run_settings(run_dir))
        changed = [name for name in MODEL_FIELDS if getattr(stored, name) != getattr(params, name)]
        if changed:
            was = ", ".join(f"{name}={getattr(stored, name)}" for name in changed)
            raise InputError(f"--resume: the run was trained with {was}; "
                             "a resumed run keeps its network (leave those options out)")
        labeldefs = run_dir / LABELDEFS_NAME
        history = read_run_history(run_dir)
    elif labeldefs is None:
        labeldefs = find_labeldefs(data_dir)
        if labeldefs is None:
            raise InputError(f"--labeldefs: no {LABELDEFS_NAME} in {data_dir} or a folder above it; "
                             "give --labeldefs FILE")
    labels, colors = read_labeldefs(labeldefs)
    n_classes = len(labels)
    done = len(history.get("loss", []))
    if done >= params.epochs:
        raise InputError(f"--epochs {params.epochs}: the run has already trained {count(done, 'epoch')}; "
                         "give a larger --epochs to train more")
    train = load_split(pairs["train"], params.image_size, n_classes, params.standardise)
    val = load_split(pairs["val"], params.image_size, n_classes, params.standardise)
    weights = fcn.median_frequency_weights(train.label_images, n_classes) if params.class_weights else None
    settings = {
        "params": dataclasses.asdict(params), "labels": labels, "colors": colors.tolist(),
        "train_scale": np.median(train.scales, axis=0).tolist(), "data_dir": str(Path(data_dir).resolve()),
        "n_train": len(train.names), "n_val": len(val.names),
        "class_weight_values": None if weights is None else weights.tolist(),
    }

    set_random_seed(params.seed)
    if resume:
        model = load_checkpoint(run_dir / LAST_CHECKPOINT, params.learning_rate)
    else:
        model = fcn.build_fcn(n_classes, params.image_size, params.backbone, pretrained=params.backbone != "tiny",
                              seed=params.seed, cache_dir=cache_dir, train_backbone=params.train_backbone)
        fcn.compile_fcn(model, n_classes, params.learning_rate)
        _start_run_dir(run_dir)  # everything checked: only now is an old run deleted and the new one created
    try:
        write_labeldefs(run_dir / LABELDEFS_NAME, labels, colors)
        write_text_atomic(run_dir / RUN_SETTINGS, json.dumps(settings, indent=1))
        log.info("%d training and %d validation images at %d x %d px, %d classes, backbone %s", len(train.names),
                 len(val.names), params.image_size[1], params.image_size[0], n_classes, params.backbone)
        _fit(model, run_dir, train, val, weights, params, history, done)
        write_run_card(run_dir, labeldefs, params, labels, colors, pairs, {"train": train, "val": val}, history)
    except BaseException:
        if not resume and not (run_dir / LAST_CHECKPOINT).exists():  # no epoch finished: leave no half-made run behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    scores = history[MONITOR]
    best = int(np.argmax(scores))
    return FCNTrainResult(run_dir=run_dir, epochs_done=len(scores), epochs_new=len(scores) - done,
                          best_epoch=best + 1, best_val_mean_iou=float(scores[best]),
                          seconds_per_epoch=float(np.mean(history["seconds"][done:])), history=history)


def _pixel_counts(split: Split, labels: list[str]) -> dict[str, int]:
    """Pixels of each class in a split's label images at the network size (no-data pixels not counted)."""
    counts = np.bincount(split.label_images.ravel(), minlength=256)
    return {name: int(counts[k]) for k, name in enumerate(labels)}


def write_run_card(run_dir: Path, labeldefs: Path, params: FCNTrainParams, labels: list[str], colors: np.ndarray,
                   pairs: dict[str, list[tuple[Path, Path]]], splits: dict[str, Split], history: dict) -> None:
    """Write the run's provenance record (settings; labeldefs, every sample and label image as inputs) and model
    card (``io.model_card``; scores of the best epoch, whose weights infer uses) into ``run_dir``."""
    from ..file_contract import run_sidecars
    from ..io.model_card import model_card, write_model_card
    from ..io.provenance import write_record_file
    from ..models.fcn import backbone_origin
    from ..provenance_record import build_record, input_file

    inputs = [input_file("labeldefs", labeldefs)]
    for split, split_pairs in pairs.items():
        for sample, label in split_pairs:
            inputs += [input_file(f"{split} image", sample), input_file(f"{split} labels", label)]
    record = build_record("fcn_train", params, inputs)
    best = int(np.argmax(history[MONITOR]))
    at_best = {key: values[best] for key, values in history.items() if key != "seconds"}
    card = model_card(
        model=run_dir.name, kind="Fully convolutional network (step 8, train.py) labelling every pixel",
        labels=labels, colors=colors,
        training_data={"unit": f"pixels at the network input of {params.image_size[1]} x {params.image_size[0]} px",
                       "images": [name for split in splits.values() for name in split.names],
                       "counts": {split: _pixel_counts(data, labels) for split, data in splits.items()}},
        backbone=backbone_origin(params.backbone, params.train_backbone), settings=record["settings"],
        scores={"training": {"epoch": best + 1} | {k: v for k, v in at_best.items() if not k.startswith("val_")},
                "validation": {"epoch": best + 1} | {k[4:]: v for k, v in at_best.items() if k.startswith("val_")}},
        record=record)
    write_record_file(run_sidecars(run_dir)["provenance"], record)
    write_model_card(run_dir, card)


def _fit(model, run_dir: Path, train: Split, val: Split, weights, params: FCNTrainParams, history: dict,
         done: int) -> None:
    """Train ``model`` from epoch ``done`` to ``params.epochs``, recording each epoch in ``run_dir`` and
    ``history``."""
    from ..models import fcn
    from ..models.fcn_training import fit
    from ..terminal import progress

    steps = int(np.ceil(len(train.names) / params.batch_size))
    train_data = fcn.training_dataset(train.images, train.label_images, params.batch_size, params.seed,
                                      class_weights=weights, start=done * steps * params.batch_size)
    val_data = fcn.evaluation_dataset(val.images, val.label_images, params.batch_size)
    with progress(total=params.epochs, initial=done, desc="epochs", unit="epoch") as bar:
        fit(model, train_data, val_data, steps_per_epoch=steps, epochs=params.epochs, initial_epoch=done,
            on_epoch_end=_EpochRecorder(run_dir, history, bar), tensorboard_dir=run_dir / "tb",
            early_stopping=params.early_stopping, monitor=MONITOR)
