"""Tutorial step 2: ground truth from brush strokes (create_groundtruth/label_1image_crf.py, label_1geotiff_crf.py).

Strokes come from the interactive OpenCV tool (saved to ``<name>_scribbles.png`` after every window, before any
computation) or from a scribbles PNG (scripted mode). The engine
(``dl_tools.labelling.engine.label_from_strokes``) turns them into a dense label image. Outputs, next to the image
or in ``outdir`` (``<name>`` = file name without extension):
``<name>_mres.mat``, ``<name>_mres.png``, ``<name>_report.txt``, ``<name>_mres_label.png``, ``<name>_mres_color.png``
and, for GeoTIFFs, ``<name>_mres.tif``. Pixels where a TIFF has no data (no-data value, NaN, alpha band or mask)
are 255 (``io.geotiff.LABEL_NODATA``) in the ``.tif`` and marked in the ``.mat``'s ``nodata`` mask, so that
steps 3 and 7 leave them out; the ``class`` map and the PNGs keep the CRF's class there.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..file_contract import label_outputs
from ..labelling.engine import ENGINES, default_crf_params, label_from_strokes
from ..segmentation.crf import CRFParams, check_strokes, scaled_shape
from ..segmentation.pixel_classifier import ClassifierParams
from .windowed import WindowedParams, is_large

if TYPE_CHECKING:
    from ..io.geotiff import GeoInfo
    from ..labelling.prior import ModelEvidence
    from .prior import HybridPrior, PriorFiles, RunPrior

log = logging.getLogger(__name__)

#: Longest side, in pixels, of the panels of the ``_mres.png`` figure (big photographs are shown reduced).
FIGURE_SIDE = 1600
#: Shortest side, in pixels, of the grid the classifier and the CRF run on (the image scaled by -s).
MIN_GRID_SIDE = 8
#: Shortest side, in pixels, of an image that can be labelled (at -s 1).
MIN_IMAGE_SIDE = 2
#: The fix ending the messages about a --scribbles file.
SCRIBBLES_FIX = "give a one-band PNG of class numbers (0 = none, k = class k-1) or a _mres.mat holding strokes"
#: The fix ending the messages about the saved strokes of an interactive session (--resume).
RESUME_FIX = "give --overwrite to start again, or fix or remove the file"


@dataclass(frozen=True)
class LabelParams:
    """window : -w, side of the annotation windows in pixels of the image scaled by ``scale`` (as the legacy tool:
                ``-w 500 -s 0.2`` gives windows of 2500 full-size pixels). Larger than the image: one window.
    scale  : -s, in (0, 1]: features, classifier and CRF run on the image resized by this factor.
    engine : "strokes" (default) or "classifier" (see dl_tools.labelling.engine).
    bands  : 1-based bands shown and used (GeoTIFFs), None = the first three.
    resume : continue from an existing ``<name>_scribbles.png``.  overwrite : replace existing outputs.
    seed   : random seed of the classifier."""

    window: int = 500
    scale: float = 0.2
    engine: str = ENGINES[0]
    bands: tuple[int, ...] | None = None
    resume: bool = False
    overwrite: bool = False
    seed: int = 0

    def __post_init__(self):
        if not 0.0 < self.scale <= 1.0:
            raise InputError(f"-s must be in (0, 1], got {self.scale}")
        if self.window < 1:
            raise InputError(f"-w must be a positive number of pixels, got {self.window}")
        if self.engine not in ENGINES:
            raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")

    @property
    def window_pixels(self) -> int:
        """Window side in full-size pixels."""
        return max(1, int(round(self.window / self.scale)))

    @property
    def crf(self) -> CRFParams:
        return default_crf_params(self.engine, self.scale)


@dataclass
class LabelResult:
    outputs: dict[str, Path]
    proportions: dict[str, float]
    annotation_seconds: float
    compute_seconds: float
    shape: tuple[int, int]
    n_windows: int = 0
    warnings: list[str] = field(default_factory=list)


def output_paths(image_path: Path, outdir: Path | None, geotiff: bool) -> dict[str, Path]:
    """Every file the step writes, by role. ``<name>`` is the file name without its last extension."""
    return label_outputs(Path(outdir) if outdir is not None else image_path.parent, image_path.stem, geotiff)


def _round_up(value: float, digits: int = 2) -> float:
    """``value`` rounded up to ``digits`` significant digits (0.001628 -> 0.0017)."""
    exponent = math.floor(math.log10(value)) - digits + 1
    return round(math.ceil(value / 10.0 ** exponent - 1e-9) * 10.0 ** exponent, max(0, -exponent))


def check_scale(shape: tuple[int, int], scale: float) -> None:
    """InputError naming -s and the smallest value that works when an (H, W) image scaled by ``scale`` is smaller
    than MIN_GRID_SIDE pixels on a side (a CRF on a few pixels means nothing). ``-s 1`` is always accepted."""
    grid = scaled_shape(shape, scale)
    if scale >= 1.0 or min(grid) >= MIN_GRID_SIDE:
        return
    smallest = min(1.0, _round_up(MIN_GRID_SIDE / min(shape)))
    raise InputError(f"-s {scale:g} shrinks the {shape[1]} x {shape[0]} px image to {grid[1]} x {grid[0]} px, "
                     f"too small for the CRF (at least {MIN_GRID_SIDE} px a side); give -s {smallest:g} or more")


def _checked_strokes(sparse: np.ndarray, shape: tuple[int, int], n_classes: int, name: str, fix: str) -> np.ndarray:
    """``sparse`` when it has the image's (H, W) ``shape`` and no value above ``n_classes``; otherwise InputError
    starting with ``name`` (the file, after its flag) and ending with ``fix``."""
    if sparse.shape != tuple(shape):
        raise InputError(f"{name} is {sparse.shape[1]} x {sparse.shape[0]} px but the image is {shape[1]} x "
                         f"{shape[0]} px: the strokes and the image differ in size; {fix}")
    if sparse.size and int(sparse.max()) > n_classes:
        raise InputError(f"{name} holds class value {int(sparse.max())}, but there are only {n_classes} classes "
                         f"(0 = none, 1..{n_classes}); check --labels, or {fix}")
    return sparse


def read_scribbles(path: Path, n_classes: int, shape: tuple[int, int], prefix: str = "--scribbles ",
                   fix: str = SCRIBBLES_FIX) -> np.ndarray:
    """A scribbles PNG (or one-band TIFF) -> (H, W) uint8 (0 = none, k = class k-1), checked against the image's
    (H, W) ``shape`` and the number of classes. A grey image stored as RGB is accepted. Errors name the file after
    ``prefix`` (its flag) and end with ``fix``."""
    from ..io.images import read_raw

    try:
        array = read_raw(path, fix)
    except InputError as exc:
        raise InputError(f"{prefix}{exc}") from exc
    name = f"{prefix}{path}"
    if array.ndim == 3 and array.shape[2] == 1:  # a one-band TIFF
        array = array[:, :, 0]
    if array.ndim == 3:
        if array.shape[2] >= 3 and (array[:, :, 1:3] == array[:, :, :1]).all():
            array = array[:, :, 0]
        else:
            raise InputError(f"{name} is a colour image; {fix}")
    if array.dtype != np.uint8:
        if array.size and array.max() > 255 or array.min(initial=0) < 0:
            raise InputError(f"{name} holds values outside 0-255; {fix}")
        array = array.astype(np.uint8)
    return _checked_strokes(array, shape, n_classes, name, fix)


def strokes_from_mat(path: Path, labels: list[str], shape: tuple[int, int]) -> np.ndarray:
    """The ``sparse`` strokes of a label .mat file, renumbered to the order of ``labels`` (classes matched by name),
    checked against the image's (H, W) ``shape``."""
    from ..io.mat import read_label_mat

    try:
        label_file = read_label_mat(path, strokes=True)
    except InputError as exc:
        raise InputError(f"--scribbles {exc}") from exc
    if label_file.sparse is None or not label_file.sparse.any():
        raise InputError(f"--scribbles {path}: the file holds no strokes ('sparse'); give a scribbles PNG")
    if set(label_file.labels) != set(labels):
        raise InputError(f"--scribbles {path}: its classes ({', '.join(label_file.labels)}) differ from those of "
                         f"the labels file ({', '.join(labels)}); give the matching labels file")
    lookup = np.zeros(len(label_file.labels) + 1, np.uint8)
    lookup[1:] = [labels.index(name) + 1 for name in label_file.labels]
    return _checked_strokes(lookup[label_file.sparse], shape, len(labels), f"--scribbles {path}", SCRIBBLES_FIX)


def load_strokes(path: Path, labels: list[str], shape: tuple[int, int], allow_empty: bool = False) -> np.ndarray:
    """The strokes of ``--scribbles``: a lossless image (PNG) of class numbers or a label .mat holding strokes,
    checked against the image's (H, W) ``shape`` and ``labels``; errors name --scribbles and the file. A PNG with no
    stroke is refused unless ``allow_empty`` (with a model's prior: the model's labels as they are)."""
    from ..file_contract import IMAGE_EXTENSIONS

    if path.is_dir():
        raise InputError(f"--scribbles {path} is a folder, not a file; {SCRIBBLES_FIX}")
    if not path.is_file():
        raise InputError(f"--scribbles {path} does not exist; {SCRIBBLES_FIX}")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return strokes_from_mat(path, labels, shape)
    if suffix in (".jpg", ".jpeg"):
        raise InputError(f"--scribbles {path} is a JPEG, whose lossy compression changes the class numbers along "
                         "the strokes; save the strokes as PNG")
    if suffix not in IMAGE_EXTENSIONS:
        raise InputError(f"--scribbles {path} is neither an image nor a .mat file; {SCRIBBLES_FIX}")
    sparse = read_scribbles(path, len(labels), shape)
    if not allow_empty and not sparse.any():
        raise InputError(f"--scribbles {path} holds no strokes (every pixel is 0); {SCRIBBLES_FIX}")
    return sparse


def _write_scribbles(path: Path, sparse: np.ndarray) -> None:
    from ..io.images import write_image

    write_image(path, np.ascontiguousarray(sparse, dtype=np.uint8))
    log.debug("strokes saved to %s", path)


def _saved_strokes(scribbles_path: Path, params: LabelParams, n_classes: int,
                   shape: tuple[int, int]) -> np.ndarray | None:
    """The strokes of an earlier session to resume (checked now, before any window opens), or None to start anew;
    InputError when starting anew would replace saved strokes without --overwrite."""
    if scribbles_path.exists():
        if params.resume:
            return read_scribbles(scribbles_path, n_classes, shape, prefix="--resume: saved strokes ",
                                  fix=RESUME_FIX)
        if not params.overwrite:
            raise InputError(f"{scribbles_path} already holds strokes of this image; give --resume to continue "
                             "from them or --overwrite to start again")
    elif params.resume:
        raise InputError(f"--resume: there is no {scribbles_path} to continue from; leave out --resume")
    return None


def _interactive_strokes(image, labels, colors, params, scribbles_path: Path, base: np.ndarray | None,
                         annotate: Callable, proposal: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Run the annotation session from ``base`` (saved strokes, or None), showing the (H, W) ``proposal`` of a
    model under the strokes when given; returns (strokes, number of windows)."""
    from ..labelling.session import AnnotationSession, informative_windows, resume_index, window_grid

    windows = informative_windows(image, window_grid(image.shape[:2], params.window_pixels))
    start = 0
    if base is not None:
        start = resume_index(base, windows)
        log.info("resuming from %s at window %d/%d", scribbles_path, start + 1, len(windows))
    session = AnnotationSession(image.shape[:2], labels, windows, base=base, start=start,
                                on_save=lambda sparse: _write_scribbles(scribbles_path, sparse), proposal=proposal)
    log.info("%d windows of %d x %d px (-w %d at -s %g)", len(windows), params.window_pixels, params.window_pixels,
             params.window, params.scale)
    annotate(image, colors, session)
    _write_scribbles(scribbles_path, session.sparse)
    return session.sparse, len(windows)


def _figure(image, sparse, label_image, labels, colors, title):
    from ..arrays.resize import resize_image, resize_labels
    from ..plotting import label_overlay, panels_figure

    factor = min(1.0, FIGURE_SIDE / max(image.shape[:2]))
    if factor < 1.0:
        shape = (max(1, round(image.shape[0] * factor)), max(1, round(image.shape[1] * factor)))
        image, sparse, label_image = (resize_image(image, shape), resize_labels(sparse, shape),
                                      resize_labels(label_image, shape))
    strokes = np.where(sparse > 0, sparse.astype(np.int32) - 1, len(labels))
    return panels_figure([("image", image), ("image and strokes", label_overlay(image, strokes, colors, 0.8)),
                          ("image and labels", label_overlay(image, label_image, colors, 0.5))],
                         labels=labels, colors=colors, title=title)


def _report(image_path, shape, labels, proportions, params, crf, engine, annotation_seconds, compute_seconds,
            n_strokes, user: str | None = None, prior: str | None = None) -> str:
    lines = [f"Image: {image_path}", f"Image size: {shape[1]} x {shape[0]} px ({shape[0] * shape[1]} pixels)"]
    lines += [f"Labelled by: {user}"] if user else []
    lines += ["Class proportions (fraction of the pixels):"]
    width = max(len(name) for name in labels)
    lines += [f"  {name:<{width}}  {proportions[name]:.4f}" for name in labels]
    lines += [f"Stroke pixels: {n_strokes} ({n_strokes / (shape[0] * shape[1]):.2%})",
              f"Annotation time (s): {annotation_seconds:.1f}",
              f"Compute time (s): {compute_seconds:.1f}",
              f"Parameters: -w {params.window} (windows of {params.window_pixels} full-size px) -s {params.scale} "
              + (f"--engine {engine} " if prior is None else "") + f"--seed {params.seed}"
              + (f" --bands {','.join(map(str, params.bands))}" if params.bands else ""),
              "CRF: " + ", ".join(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                                  for name, value in asdict(crf).items()),
              f"Machine: {platform.node()} ({platform.machine()}, {platform.system()})"]
    if prior:
        lines.insert(-2, f"Prior: {prior}")
    return "\n".join(lines) + "\n"


@dataclass
class _Job:
    """What the checks of ``_check_inputs`` found: the image, its (H, W) ``shape`` and GeoInfo (``geotiff`` only),
    the class names and (N, 3) uint8 colours, the output paths by role, and either the strokes of --scribbles
    (``sparse``, (H, W) uint8) or, interactive, the saved strokes to resume (``base``) and the ``annotate`` view;
    ``user``: who labels the image (the web labeller's --user), written into the report and the .mat.
    ``prior``: the model whose probabilities are the CRF's prior (``workflows.prior``), or None."""

    image_path: Path
    shape: tuple[int, int]
    labels: list[str]
    colors: np.ndarray
    paths: dict[str, Path]
    geotiff: bool
    geo: GeoInfo | None = None
    sparse: np.ndarray | None = None
    base: np.ndarray | None = None
    annotate: Callable | None = None
    user: str | None = None
    prior: HybridPrior | RunPrior | None = None
    evidence: ModelEvidence | None = None  # the prior's probabilities and features, once computed


@dataclass
class _Labels:
    """What ``_compute`` made: (H, W) uint8 ``label_image``, (h, w, N) float32 ``probs``, (H, W) uint8 strokes
    ``sparse`` (0 = none, k = class k-1), the engine and CRF settings used, and the times in seconds; ``prior``:
    the prior model and its mean entropy, for the report (None without a prior)."""

    label_image: np.ndarray
    probs: np.ndarray
    sparse: np.ndarray
    engine: str
    crf: CRFParams
    n_windows: int
    annotation_seconds: float
    compute_seconds: float
    warnings: list[str]
    prior: str | None = None


def check_image_size(shape: tuple[int, int], image_path: Path) -> None:
    """InputError naming the image when its (H, W) ``shape`` has a side under MIN_IMAGE_SIDE pixels: the pixel
    features (colour gradients, texture) and the CRF need neighbouring pixels, at any -s."""
    if min(shape) < MIN_IMAGE_SIDE:
        raise InputError(f"--image {image_path} is {shape[1]} x {shape[0]} px, too small to label (the colour "
                         f"features and the CRF need at least {MIN_IMAGE_SIDE} px a side); give a larger image")


def _check_inputs(image_path: Path, labels_path, colors_path, params: LabelParams, scribbles_path: Path | None,
                  outdir: Path | None, geotiff: bool, annotate: Callable | None, prior: PriorFiles | None) -> _Job:
    """Check every input (image header, strokes, saved strokes to resume, the prior's model) and every output path,
    before the image is read, any window opens or anything is written; InputError naming the file or flag
    otherwise."""
    from ..file_contract import TIFF_EXTENSIONS
    from ..io.atomic import check_can_write, check_output_dir, check_output_file
    from ..io.geotiff import read_geoinfo
    from ..io.images import image_shape
    from ..io.text import check_same_length, read_colors, read_labels

    labels = read_labels(labels_path)
    colors = read_colors(colors_path)
    check_same_length(labels, colors, labels_path, colors_path)
    if len(labels) > 255:
        raise InputError(f"labels file {labels_path}: {len(labels)} classes; at most 255 fit a scribbles PNG")
    if scribbles_path is None and annotate is None:
        from ..labelling.opencv_view import annotate, require_display

        require_display()
    if geotiff and image_path.suffix.lower() not in TIFF_EXTENSIONS:
        raise InputError(f"--image {image_path}: not a TIFF; label_1geotiff_crf.py reads GeoTIFFs "
                         "(use label_1image_crf.py for photographs)")
    paths = output_paths(image_path, outdir, geotiff)
    if outdir:
        check_output_dir(outdir, "--outdir", "give another --outdir")
    else:
        check_output_dir(image_path.parent, "output folder", "give --outdir FOLDER for the outputs")
    for role, path in paths.items():
        if role != "scribbles" or scribbles_path is None:
            check_output_file(path, "output file", "rename or remove it, or give another --outdir")
    check_can_write(paths["mat"], params.overwrite)  # before any annotation: never waste a person's time
    shape = image_shape(image_path)
    check_image_size(shape, image_path)
    check_scale(shape, params.scale)
    job = _Job(image_path, shape, labels, colors, paths, geotiff, annotate=annotate)
    if geotiff:
        job.geo = read_geoinfo(image_path)
        if job.geo is None:
            log.warning("%s has no georeferencing; %s_mres.tif will have none either", image_path, image_path.stem)
    if scribbles_path is not None:
        job.sparse = load_strokes(scribbles_path, labels, shape, allow_empty=prior is not None)
    else:
        job.base = _saved_strokes(paths["scribbles"], params, len(labels), shape)
    if prior is not None:
        job.prior = prior.load(labels)
    return job


def _compute(job: _Job, image: np.ndarray, params: LabelParams) -> _Labels:
    """Strokes (those of --scribbles, or drawn now in the annotation windows) -> dense labels, with the warnings
    about the image and the strokes logged before the computation starts."""
    warnings = []
    engine = params.engine
    if job.prior is None and not np.ptp(image.reshape(-1, 3), axis=0).any():
        engine = "classifier"  # its position features give each pixel the class of the strokes near it
        warnings.append("the image is one flat colour: each pixel takes the class of the strokes nearest to it")
    sparse, n_windows, annotation_seconds = job.sparse, 0, 0.0
    if sparse is None:
        proposal = None
        if job.prior is not None:  # the person corrects what the model proposes: show it
            log.info("the model proposes (%s, -s %g) ...", job.prior.description, params.scale)
            base = job.base if job.base is not None else np.zeros(image.shape[:2], np.uint8)
            proposal = _fuse_with_prior(job, image, base, params.scale)[0]
        started = time.perf_counter()
        sparse, n_windows = _interactive_strokes(image, job.labels, job.colors, params, job.paths["scribbles"],
                                                 job.base, job.annotate, proposal)
        annotation_seconds = time.perf_counter() - started
        log.info("strokes saved to %s", job.paths["scribbles"])
    sparse = check_strokes(sparse, image.shape, len(job.labels), allow_empty=job.prior is not None)
    missing = [name for k, name in enumerate(job.labels) if not (sparse == k + 1).any()]
    if missing and job.prior is None:
        warnings.append(f"no strokes for {', '.join(missing)}: those classes are never assigned")
    for message in warnings:
        log.warning("%s", message)
    if job.prior is not None:
        return _compute_with_prior(job, image, sparse, params, n_windows, annotation_seconds, warnings)
    log.info("computing the labels (%s engine, -s %g) ...", params.engine, params.scale)
    started = time.perf_counter()
    crf_params = default_crf_params(engine, params.scale)
    label_image, probs = label_from_strokes(image, sparse, len(job.labels), crf_params, engine,
                                            ClassifierParams(seed=params.seed))
    compute_seconds = time.perf_counter() - started
    log.debug("labels computed in %.1f s", compute_seconds)
    return _Labels(label_image, probs, sparse, engine, crf_params, n_windows, annotation_seconds, compute_seconds,
                   warnings)


def _compute_with_prior(job: _Job, image: np.ndarray, sparse: np.ndarray, params: LabelParams, n_windows: int,
                        annotation_seconds: float, warnings: list[str]) -> _Labels:
    """The model's probabilities as the CRF's prior, the strokes as near-certain evidence (``labelling.prior``)."""
    from ..labelling.prior import mean_entropy

    log.info("computing the labels (prior: %s, -s %g) ...", job.prior.description, params.scale)
    started = time.perf_counter()
    label_image, marginals, crf_params = _fuse_with_prior(job, image, sparse, params.scale)
    compute_seconds = time.perf_counter() - started
    prior = (f"{job.prior.description}, mean entropy of its probabilities {mean_entropy(job.evidence.probs):.3f} "
             f"(0-1); {_refit_note(job, sparse)}")
    return _Labels(label_image, marginals, sparse, "prior", crf_params, n_windows, annotation_seconds,
                   compute_seconds, warnings, prior)


def _refit_note(job: _Job, sparse: np.ndarray) -> str:
    """How the labels of ``sparse`` came from the model, for the report (``labelling.refit``)."""
    if not np.any(sparse):
        return "no stroke: the model's labels"
    if job.evidence.features is None:  # also None when the weighting has no refit (workflows.prior)
        return "not refitted to the strokes (no per-pixel features of the model)"
    return "refitted to the strokes on the model's per-pixel features"


def _fuse_with_prior(job: _Job, image: np.ndarray, sparse: np.ndarray,
                     scale: float) -> tuple[np.ndarray, np.ndarray, CRFParams]:
    """``labelling.prior.label_with_prior`` of the (H, W) strokes ``sparse`` with the model's probabilities and
    features (computed once per job): (label_image (H, W), marginals (h, w, N), the CRF settings)."""
    from ..labelling.prior import label_with_evidence, prior_crf_params

    if job.evidence is None:
        job.evidence = job.prior.evidence(image, scale)
    crf_params = prior_crf_params(scale)
    label_image, marginals = label_with_evidence(image, sparse, job.evidence, crf_params, job.prior.weighting)
    return label_image, marginals, crf_params


def _proportions(label_image: np.ndarray, labels: list[str]) -> dict[str, float]:
    """The fraction of the pixels of the (H, W) ``label_image`` in each class, by name."""
    counts = np.bincount(label_image.ravel(), minlength=len(labels))
    return {name: float(c) / label_image.size for name, c in zip(labels, counts)}


def _record(job: _Job, result: _Labels, params: LabelParams, labels_path, colors_path,
            scribbles_path: str | Path | None, prior: PriorFiles | None = None) -> dict:
    """The provenance record of the image's label files: the settings (with the engine and CRF settings used) and
    the image, labels, colours and strokes files (the saved strokes of an interactive session; none when no stroke
    was drawn over a model's proposal), and the files of the model whose prior was used."""
    from ..file_contract import BEST_WEIGHTS
    from ..provenance_record import build_record, input_file, plain

    strokes = scribbles_path if scribbles_path is not None else job.paths["scribbles"]
    models = [] if prior is None else [
        input_file(role, path) for role, path in (("prior model", prior.model), ("prior labels", prior.model_labels),
                                                  ("prior run", prior.run and Path(prior.run) / BEST_WEIGHTS))
        if path is not None]
    return build_record("label", {**plain(params), "engine_used": result.engine, "crf": result.crf},
                        [input_file("image", job.image_path), input_file("labels", labels_path),
                         input_file("colors", colors_path),
                         *([input_file("strokes", strokes)] if Path(strokes).is_file() else []), *models])


def _write_outputs(job: _Job, image: np.ndarray, result: _Labels, params: LabelParams,
                   record: dict | None = None) -> dict[str, Path]:
    """Write every output but the strokes (module doc) together (``io.atomic.atomic_outputs``: all or none, the
    .mat last), the .mat and .tif holding the provenance ``record``; returns the files of the image's outputs that
    exist, strokes included, by role."""
    from ..io.atomic import atomic_outputs, check_can_write, write_text_atomic
    from ..io.figures import save_figure
    from ..io.geotiff import GeoInfo, mask_nodata, nodata_mask, write_label_geotiff
    from ..io.images import write_image
    from ..io.mat import LabelFile, write_label_mat
    from ..plotting import colorize

    check_can_write(job.paths["mat"], params.overwrite)  # again: one may have appeared during the annotation
    label_image, sparse = result.label_image, result.sparse
    nodata = nodata_mask(job.image_path)
    report = _report(job.image_path, image.shape[:2], job.labels, _proportions(label_image, job.labels), params,
                     result.crf, result.engine, result.annotation_seconds, result.compute_seconds,
                     int((sparse > 0).sum()), job.user, result.prior)
    with atomic_outputs({role: path for role, path in job.paths.items() if role != "scribbles"}) as tmp:
        write_label_mat(tmp["mat"], LabelFile(label_image, job.labels, sparse=sparse, probs=result.probs,
                                              nodata=nodata, provenance=record,
                                              extra={"user": job.user} if job.user else {}))
        write_image(tmp["label"], label_image.astype(np.uint8))
        write_image(tmp["color"], colorize(label_image, job.colors))
        save_figure(_figure(image, sparse, label_image, job.labels, job.colors, job.image_path.name), tmp["figure"])
        write_text_atomic(tmp["report"], report)
        if job.geotiff:
            grid = job.geo or GeoInfo(None, _identity(), image.shape[1], image.shape[0])
            write_label_geotiff(tmp["tif"], mask_nodata(label_image, nodata), grid, labels=job.labels,
                                provenance=record)
    return {role: path for role, path in job.paths.items() if path.exists()}


def label_image_file(image_path: str | Path, labels_path: str | Path, colors_path: str | Path, params: LabelParams,
                     scribbles_path: str | Path | None = None, outdir: str | Path | None = None,
                     geotiff: bool = False, annotate: Callable | None = None,
                     windowed: WindowedParams | None = None, prior: PriorFiles | None = None) -> LabelResult:
    """Label one image from strokes and write every output (see the module doc).

    scribbles_path : scripted mode, strokes from this PNG (or the ``sparse`` of a label .mat file); None = interactive
                     (``annotate(image, colors, session)``, by default the OpenCV windows, which need a display).
    geotiff        : also write ``<name>_mres.tif`` on the source's grid (CRS, transform, nodata kept).
    prior          : a trained model (--prior/--prior-labels or --prior-run) whose probabilities are the CRF's
                     prior, the strokes its corrections (``labelling.prior.label_with_prior``; no stroke at all is
                     then allowed: the model's labels); None: the strokes alone (``params.engine``).

    windowed       : a GeoTIFF larger than ``windowed.max_megapixels`` is labelled window by window from a strokes
                     GeoTIFF (``workflows.label_raster``): only ``<name>_mres.tif`` and a preview are written.

    Every input (image header, strokes, saved strokes to resume, the prior's model) and every output path is checked
    before the image is read, any window opens or anything is written. The outputs appear together or not at all;
    temporary files an interrupted run left in the output folder are removed.
    """
    from ..io.atomic import remove_stale_temporaries

    started = time.time()
    image_path = Path(image_path)
    windowed = windowed or WindowedParams()
    if geotiff and image_path.is_file() and is_large(image_path, windowed):
        if prior is not None:
            raise InputError(f"--prior and --prior-run are for images labelled whole; {image_path.name} is above "
                             f"--max-megapixels {windowed.max_megapixels:g} and is labelled by windows from strokes")
        return _label_large(image_path, labels_path, colors_path, params, scribbles_path, outdir, windowed)
    if scribbles_path is not None and (params.resume or windowed.resume):
        raise InputError("--resume continues an interactive session; leave it out with --scribbles (it continues "
                         "a raster labelled by windows, above --max-megapixels, too)")
    job = _check_inputs(image_path, labels_path, colors_path, params,
                        Path(scribbles_path) if scribbles_path is not None else None,
                        Path(outdir) if outdir else None, geotiff, annotate, prior)
    remove_stale_temporaries(job.paths["mat"].parent, started)
    return _label_job(job, params, labels_path, colors_path, scribbles_path, prior)


def _label_job(job: _Job, params: LabelParams, labels_path, colors_path, scribbles_path,
               prior: PriorFiles | None) -> LabelResult:
    """Read the checked ``job``'s image, label it and write its outputs."""
    from ..io.images import read_image

    image = read_image(job.image_path, bands=params.bands)
    result = _compute(job, image, params)
    outputs = _write_outputs(job, image, result, params,
                             _record(job, result, params, labels_path, colors_path, scribbles_path, prior))
    return LabelResult(outputs, _proportions(result.label_image, job.labels), result.annotation_seconds,
                       result.compute_seconds, image.shape[:2], result.n_windows, result.warnings)


#: What to do about an image of --input-dir that turned out unusable while it was labelled.
FOLDER_FIX = "replace it with an undamaged copy, then label it alone (--image and --scribbles instead of --input-dir)"


@dataclass(eq=False)
class _FolderLabeller:
    """The work of ``label_folder`` on one image and its strokes, the same in this process and as a Dask task
    (picklable): check it, label it, write its outputs."""

    labels_path: Path
    colors_path: Path
    params: LabelParams
    outdir: Path | None

    def job(self, image_path: Path, scribbles_path: Path) -> _Job:
        return _check_inputs(image_path, self.labels_path, self.colors_path, self.params, scribbles_path,
                             self.outdir, False, None, None)

    def __call__(self, image_path: Path, scribbles_path: Path) -> LabelResult:
        return _label_job(self.job(image_path, scribbles_path), self.params, self.labels_path, self.colors_path,
                          scribbles_path, None)


def label_folder(input_dir: str | Path, labels_path: str | Path, colors_path: str | Path, params: LabelParams,
                 outdir: str | Path | None = None, client=None):
    """Scripted step 2 over a folder (``--input-dir``): label every photograph ``<name>.<ext>`` of ``input_dir``
    that has its strokes ``<name>_scribbles.png`` beside it (where the interactive tool and the web labeller save
    them), as ``label_image_file`` with ``--scribbles`` would, into ``outdir`` (default: beside each image).

    Photographs without strokes are named in a warning and left out (InputError when none has any). Every image,
    its strokes and its outputs are checked before any is labelled; an image found unusable only while it is
    labelled is skipped with a warning (``folder_runs.process_images``; ``FolderRun.outputs``: a LabelResult per
    image labelled). With a Dask ``client`` (``workflows.distributed``) each image is a task labelled and written on
    a worker; the outputs are those of the serial run."""
    from ..io.atomic import remove_stale_temporaries
    from ..io.images import list_images
    from .folder_runs import check_outputs, photographs, process_images

    started = time.time()
    images = photographs(list_images(input_dir, flag="--input-dir"), input_dir, "--input-dir")
    plan, missing = [], []
    for image in images:
        strokes = label_outputs(image.parent, image.stem, False)["scribbles"]
        (plan.append((image, strokes)) if strokes.is_file() else missing.append(image.name))
    if not plan:
        raise InputError(f"--input-dir {input_dir}: no photograph has its strokes <name>_scribbles.png beside it; "
                         "draw them (interactive mode or the web labeller save them there) or copy them there")
    if missing:
        log.warning("no strokes <name>_scribbles.png for %s in %s: left out", ", ".join(missing), input_dir)
    task = _FolderLabeller(Path(labels_path).absolute(), Path(colors_path).absolute(), params,  # for workers
                           Path(outdir).absolute() if outdir is not None else None)
    jobs = [task.job(image, strokes) for image, strokes in plan]
    check_outputs([(job.image_path, {k: p for k, p in job.paths.items() if k != "scribbles"}) for job in jobs],
                  params.overwrite, "rename one of them, or label them one at a time into different --outdir folders")
    for folder in sorted({job.paths["mat"].parent for job in jobs}):
        remove_stale_temporaries(folder, started)
    return process_images(plan, task, skip=True, fix=FOLDER_FIX, flag="--input-dir", done="labelled",
                          client=client)


def _label_large(image_path: Path, labels_path, colors_path, params: LabelParams, scribbles_path, outdir,
                 windowed: WindowedParams) -> LabelResult:
    """``label_image_file`` for a raster above ``windowed.max_megapixels`` (``workflows.label_raster``)."""
    from ..io.text import check_same_length, read_colors, read_labels
    from ..io.windowed_geotiff import raster_info
    from .label_raster import label_large

    info = raster_info(image_path)
    megapixels = info.megapixels
    if scribbles_path is None:
        raise InputError(f"--image {image_path} is {megapixels:.0f} megapixels, above --max-megapixels "
                         f"{windowed.max_megapixels:g}: label it in scripted mode, --scribbles STROKES.tif (a one-band "
                         "GeoTIFF of strokes on its grid), or give a larger --max-megapixels")
    labels, colors = read_labels(labels_path), read_colors(colors_path)
    check_same_length(labels, colors, labels_path, colors_path)
    from ..provenance_record import build_record, input_file, plain, recording

    record = build_record("label", {**plain(params), "windowed": plain(windowed)},
                          [input_file("image", image_path), input_file("labels", labels_path),
                           input_file("colors", colors_path), input_file("strokes", scribbles_path)])
    started = time.perf_counter()
    with recording(record):  # the windowed GeoTIFF writer stores it
        result = label_large(image_path, Path(scribbles_path), labels, colors, params, windowed,
                             Path(outdir) if outdir else None)
    return LabelResult(result.outputs, {}, 0.0, time.perf_counter() - started, (info.height, info.width),
                       result.windowed.windows)


def _identity():
    from affine import Affine

    return Affine.identity()
