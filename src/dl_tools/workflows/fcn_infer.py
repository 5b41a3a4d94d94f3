"""Method 2, step 8c: label images with a trained fully convolutional network (optionally refined by a dense CRF).

Each image (any size, any supported type) is resized by the run's training scale (``train_scale`` in settings.json:
the network sees the pixel scale it was trained at), its colours standardised when the run's were (over the whole
image, not per tile), covered by overlapping network-size tiles whose probabilities are blended
(``dl_tools.arrays.tiling``; one tile when the image is no larger than the training images), and the probabilities
are resized back to the ORIGINAL size. With a CRF, ``dl_tools.segmentation.crf.crf_from_probs`` refines them
using the original image.

Outputs in the output folder, for sample ``<name>_RGB.<ext>`` (or ``<name>.<ext>``) and tag ``""`` (infer.py) or
``"_crf"`` (infer_crf.py):

    <name><tag>_label.png     class index per pixel (uint8), original size
    <name><tag>_color.png     the classes in the labeldefs colours
    <name><tag>_overlay.png   the image with the colours blended in (50 %)
    <name>_ares<tag>.mat      class, labels (class names), preds (probabilities on the network or CRF grid):
                              what eval_semseg/test_pixels.py pairs with <name>_mres.mat
    <name><tag>_label.tif     for a georeferenced GeoTIFF input: the class map on the input's grid

Pixels without data in a TIFF input (its no-data value, NaN, alpha band or mask: ``io.geotiff.nodata_mask``) get
the value 255 (``io.geotiff.LABEL_NODATA``) in the label images and no colour in the colour and overlay images;
the .mat ``class`` map, which has no such value, keeps the network's class there and its ``nodata`` mask marks
them (test_pixels.py leaves them out).

Every image's header, and the output names, are checked before the network runs, so a bad image header or an
existing output stops the run before anything is written. An image whose pixel data turn out unreadable (a damaged
file with a good header) is skipped with a warning and the others are labelled (``folder_runs.process_images``);
when none can be, nothing is written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arrays.color import standardise_channels
from ..segmentation.crf import CRFParams
from ..errors import InputError
from ..io.atomic import atomic_outputs, check_output_dir, remove_stale_temporaries
from ..io.geotiff import mask_nodata, nodata_mask, read_geoinfo, write_label_geotiff
from ..io.images import image_shape, list_images, read_image, write_image
from ..arrays.resize import resize_image
from ..io.mat import LabelFile, write_label_mat
from ..plotting import colorize, label_overlay
from .fcn_train import BEST, LAST, params_from_settings, read_run_settings, sample_name
from .folder_runs import Skipped, check_outputs, photographs, process_images

log = logging.getLogger(__name__)

CHECKPOINTS = {"best": BEST, "last": LAST}
#: What to do about an image whose pixel data turn out unreadable (a damaged file with a good header).
DAMAGED_FIX = "replace it with an undamaged copy and run again with --overwrite, or remove it from --samples-dir"


@dataclass(frozen=True)
class FCNInferParams:
    """batch_size: tiles per network call. overlap: fraction of a tile shared with its neighbours, in [0, 0.9].
    checkpoint: "best" (highest validation mean IoU) or "last" (end of training). overwrite: replace outputs.
    crf: CRF settings to refine the network's probabilities, or None for the network alone."""

    batch_size: int = 4
    overlap: float = 0.25
    checkpoint: str = "best"
    overwrite: bool = False
    crf: CRFParams | None = None

    def __post_init__(self):
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.overlap <= 0.9:
            raise InputError(f"--overlap must be between 0 and 0.9, got {self.overlap}")
        if self.checkpoint not in CHECKPOINTS:
            raise InputError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {self.checkpoint!r}")

    @property
    def tag(self) -> str:
        """Name tag of the outputs: "" for the network alone, "_crf" with the CRF."""
        return "_crf" if self.crf is not None else ""


@dataclass
class FCNInferResult:
    """outputs: the files written; skipped: the images that could not be read (see module doc)."""

    outputs: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    n_images: int = 0
    megapixels: float = 0.0
    predict_seconds: float = 0.0
    crf_seconds: float = 0.0


@dataclass
class RunModel:
    """A trained network with what inference needs: labels, (N, 3) uint8 colours, tile (H, W), train scale, and
    whether the run standardised its images' colours."""

    model: object
    labels: list[str]
    colors: np.ndarray
    tile_shape: tuple[int, int]
    scale: tuple[float, float]
    standardise: bool = False


def load_run(run_dir: str | Path, checkpoint: str = "best") -> RunModel:
    """Rebuild the network of a training run and load its ``checkpoint`` ("best" or "last") weights."""
    from ..models.fcn import build_fcn

    run_dir = Path(run_dir)
    settings = read_run_settings(run_dir)
    weights = run_dir / CHECKPOINTS[checkpoint]
    if not weights.is_file():
        raise InputError(f"--name: {run_dir} has no checkpoint {weights.name} (training stopped before the first "
                         "epoch ended?); train it with semseg_fullyconv/train.py")
    params = params_from_settings(settings)
    model = build_fcn(len(settings["labels"]), params.image_size, params.backbone, pretrained=False)
    model.load_weights(weights)
    return RunModel(model=model, labels=list(settings["labels"]), colors=np.asarray(settings["colors"], np.uint8),
                    tile_shape=params.image_size, scale=tuple(settings["train_scale"]),
                    standardise=params.standardise)


def network_grid(shape: tuple[int, int], scale: tuple[float, float]) -> tuple[int, int]:
    """(H, W) of an image times the training scale (rows, cols), rounded, at least 1 x 1."""
    return max(1, int(round(shape[0] * scale[0]))), max(1, int(round(shape[1] * scale[1])))


def predict_probs(run: RunModel, image: np.ndarray, overlap: float = 0.25, batch_size: int = 4) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (h, w, N) float32 probabilities on the network grid (``network_grid``); the colours
    standardised over the whole image first when the run was trained so."""
    from ..arrays.tiling import predict_tiled

    small = resize_image(image, network_grid(image.shape[:2], run.scale))
    if run.standardise:
        small = standardise_channels(small)
    return predict_tiled(small, run.model.predict_on_batch, run.tile_shape, overlap, batch_size)


def output_paths(output_dir: Path, sample: Path, tag: str, georeferenced: bool) -> dict[str, Path]:
    """The files written for ``sample`` (see module doc), by kind."""
    base = sample_name(sample)
    paths = {kind: output_dir / f"{base}{tag}_{kind}.png" for kind in ("label", "color", "overlay")}
    paths["mat"] = output_dir / f"{base}_ares{tag}.mat"
    if georeferenced:
        paths["tif"] = output_dir / f"{base}{tag}_label.tif"
    return paths


def plan_outputs(samples: list[Path], output_dir: Path, params: FCNInferParams) -> list[tuple]:
    """(sample, GeoInfo or None, output paths) of every image, after checking that each image's header is readable
    and every output (``folder_runs.check_outputs``: no two images writing one file, no folder in the way, none
    existing unless ``params.overwrite``)."""
    check_output_dir(output_dir, "--output-dir")
    plan = []
    for sample in samples:
        image_shape(sample, fix="remove it from --samples-dir or replace it")
        geo = read_geoinfo(sample)
        plan.append((sample, geo, output_paths(output_dir, sample, params.tag, geo is not None)))
    check_outputs([(sample, paths) for sample, _, paths in plan], params.overwrite,
                  "keep one of them in --samples-dir or rename it")
    return plan


def _write_outputs(paths: dict[str, Path], sample: Path, image: np.ndarray, label_image: np.ndarray,
                   probs: np.ndarray, run: RunModel, geo) -> None:
    """Write the outputs of ``sample`` (module doc) to ``paths`` together: all or none, the .mat last
    (``io.atomic.atomic_outputs``, which makes the output folder: none is made before an image is done).
    image: (H, W, 3) uint8; label_image: (H, W) uint8 classes; probs: (h, w, N) float32; geo: GeoInfo or None."""
    nodata = nodata_mask(sample)
    shown = mask_nodata(label_image, nodata)
    with atomic_outputs(paths) as tmp:
        write_image(tmp["label"], shown)
        write_image(tmp["color"], colorize(shown, run.colors))
        write_image(tmp["overlay"], label_overlay(image, shown, run.colors))
        write_label_mat(tmp["mat"], LabelFile(label_image, run.labels, probs=probs, nodata=nodata))
        if geo is not None:
            write_label_geotiff(tmp["tif"], shown, geo)


def infer_fcn(samples_dir: str | Path, output_dir: str | Path, run_dir: str | Path,
              params: FCNInferParams) -> FCNInferResult:
    """Label every image directly in ``samples_dir`` (except DL tools' own outputs, ``folder_runs.OUTPUT_PATTERNS``:
    the output folder may be the samples folder) and write the outputs of the module doc to ``output_dir``;
    images that cannot be read are skipped (``FCNInferResult.skipped``), InputError when none can be. Temporary
    files that an interrupted run left in ``output_dir`` are removed first."""
    from ..segmentation.crf import crf_from_probs

    run_started = time.time()
    samples = photographs(list_images(samples_dir, flag="--samples-dir"), samples_dir, "--samples-dir")
    output_dir = Path(output_dir)
    plan = plan_outputs(samples, output_dir, params)
    remove_stale_temporaries(output_dir, run_started)
    run = load_run(run_dir, params.checkpoint)
    result = FCNInferResult()

    def label(sample: Path, geo, paths: dict[str, Path]) -> list[Path]:
        image = read_image(sample)  # its errors name the file
        started = time.perf_counter()
        probs = predict_probs(run, image, params.overlap, params.batch_size)
        result.predict_seconds += time.perf_counter() - started
        if params.crf is None:
            full = resize_image(probs, image.shape[:2])
            label_image = np.argmax(full, axis=2).astype(np.uint8)
        else:
            started = time.perf_counter()
            label_image, probs = crf_from_probs(image, probs, params.crf)
            result.crf_seconds += time.perf_counter() - started
        _write_outputs(paths, sample, image, label_image, probs, run, geo)
        result.n_images += 1
        result.megapixels += image.shape[0] * image.shape[1] / 1e6
        return list(paths.values())

    done = process_images(plan, label, skip=True, fix=DAMAGED_FIX, flag="--samples-dir", done="labelled")
    result.outputs = [path for paths in done.outputs for path in paths]
    result.skipped = done.skipped
    log.debug("labelled %d images (%.1f megapixels) into %s", result.n_images, result.megapixels, output_dir)
    return result
