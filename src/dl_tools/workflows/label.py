"""Tutorial step 2: ground truth from brush strokes (create_groundtruth/label_1image_crf.py, label_1geotiff_crf.py).

Strokes come from the interactive OpenCV tool (saved to ``<name>_scribbles.png`` after every window, before any
computation) or from a scribbles PNG (scripted mode). The engine (``dl_tools.crf.label_from_strokes``) turns them
into a dense label image. Outputs, next to the image or in ``outdir`` (``<name>`` = file name without extension):
``<name>_mres.mat``, ``<name>_mres.png``, ``<name>_report.txt``, ``<name>_mres_label.png``, ``<name>_mres_color.png``
and, for GeoTIFFs, ``<name>_mres.tif``.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..crf import ENGINES, ClassifierParams, CRFParams, check_strokes, default_crf_params, label_from_strokes
from ..errors import InputError

log = logging.getLogger(__name__)

#: Longest side, in pixels, of the panels of the ``_mres.png`` figure (big photographs are shown reduced).
FIGURE_SIDE = 1600


@dataclass(frozen=True)
class LabelParams:
    """window : -w, side of the annotation windows in pixels of the image scaled by ``scale`` (as the legacy tool:
                ``-w 500 -s 0.2`` gives windows of 2500 full-size pixels). Larger than the image: one window.
    scale  : -s, in (0, 1]: features, classifier and CRF run on the image resized by this factor.
    engine : "strokes" (default) or "classifier" (see dl_tools.crf).
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
    folder = Path(outdir) if outdir is not None else image_path.parent
    name = image_path.stem
    paths = {role: folder / f"{name}{suffix}" for role, suffix in (
        ("mat", "_mres.mat"), ("figure", "_mres.png"), ("report", "_report.txt"), ("label", "_mres_label.png"),
        ("color", "_mres_color.png"), ("scribbles", "_scribbles.png"))}
    if geotiff:
        paths["tif"] = folder / f"{name}_mres.tif"
    return paths


def read_scribbles(path: Path) -> np.ndarray:
    """A scribbles PNG -> (H, W) uint8 (0 = none, k = class k-1). A grey image stored as RGB is accepted."""
    from ..io.images import read_raw

    array = read_raw(path)
    if array.ndim == 3:
        if array.shape[2] >= 3 and (array[:, :, 1:3] == array[:, :, :1]).all():
            array = array[:, :, 0]
        else:
            raise InputError(f"--scribbles {path}: a colour image; give a one-band PNG of class numbers "
                             "(0 = none, k = class k-1)")
    if array.dtype != np.uint8:
        if array.size and array.max() > 255 or array.min(initial=0) < 0:
            raise InputError(f"--scribbles {path}: values outside 0-255; give a uint8 PNG of class numbers")
        array = array.astype(np.uint8)
    return array


def strokes_from_mat(path: Path, labels: list[str]) -> np.ndarray:
    """The ``sparse`` strokes of a label .mat file, renumbered to the order of ``labels`` (classes matched by name)."""
    from ..io.mat import read_label_mat

    label_file = read_label_mat(path)
    if label_file.sparse is None or not label_file.sparse.any():
        raise InputError(f"--scribbles {path}: the file holds no strokes ('sparse'); give a scribbles PNG")
    if set(label_file.labels) != set(labels):
        raise InputError(f"--scribbles {path}: its classes ({', '.join(label_file.labels)}) differ from those of "
                         f"the labels file ({', '.join(labels)}); give the matching labels file")
    lookup = np.zeros(len(label_file.labels) + 1, np.uint8)
    lookup[1:] = [labels.index(name) + 1 for name in label_file.labels]
    return lookup[label_file.sparse]


def _write_scribbles(path: Path, sparse: np.ndarray) -> None:
    from ..io.images import write_image

    write_image(path, np.ascontiguousarray(sparse, dtype=np.uint8))
    log.debug("strokes saved to %s", path)


def _interactive_strokes(image, labels, colors, params, scribbles_path: Path, annotate) -> tuple[np.ndarray, int]:
    """Run the annotation session; returns (strokes, number of windows)."""
    from ..annotation import AnnotationSession, informative_windows, resume_index, window_grid

    windows = informative_windows(image, window_grid(image.shape[:2], params.window_pixels))
    base, start = None, 0
    if scribbles_path.exists():
        if params.resume:
            base = read_scribbles(scribbles_path)
            start = resume_index(base, windows)
            log.info("resuming from %s at window %d/%d", scribbles_path, start + 1, len(windows))
        elif not params.overwrite:
            raise InputError(f"{scribbles_path} already holds strokes of this image; give --resume to continue "
                             "from them or --overwrite to start again")
    elif params.resume:
        raise InputError(f"--resume: there is no {scribbles_path} to continue from; leave out --resume")
    session = AnnotationSession(image.shape[:2], labels, windows, base=base, start=start,
                                on_save=lambda sparse: _write_scribbles(scribbles_path, sparse))
    log.info("%d windows of %d x %d px (-w %d at -s %g)", len(windows), params.window_pixels, params.window_pixels,
             params.window, params.scale)
    if annotate is None:
        from ..labelling_gui import annotate
    annotate(image, colors, session)
    _write_scribbles(scribbles_path, session.sparse)
    return session.sparse, len(windows)


def _figure(image, sparse, label_image, labels, colors, title):
    from ..io.images import resize_image, resize_labels
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
            n_strokes) -> str:
    lines = [f"Image: {image_path}", f"Image size: {shape[1]} x {shape[0]} px ({shape[0] * shape[1]} pixels)",
             "Class proportions (fraction of the pixels):"]
    width = max(len(name) for name in labels)
    lines += [f"  {name:<{width}}  {proportions[name]:.4f}" for name in labels]
    lines += [f"Stroke pixels: {n_strokes} ({n_strokes / (shape[0] * shape[1]):.2%})",
              f"Annotation time (s): {annotation_seconds:.1f}",
              f"Compute time (s): {compute_seconds:.1f}",
              f"Parameters: -w {params.window} (windows of {params.window_pixels} full-size px) -s {params.scale} "
              f"--engine {engine} --seed {params.seed}"
              + (f" --bands {','.join(map(str, params.bands))}" if params.bands else ""),
              f"CRF: {crf}",
              f"Machine: {platform.node()} ({platform.machine()}, {platform.system()})"]
    return "\n".join(lines) + "\n"


def label_image_file(image_path: str | Path, labels_path: str | Path, colors_path: str | Path, params: LabelParams,
                     scribbles_path: str | Path | None = None, outdir: str | Path | None = None,
                     geotiff: bool = False, annotate: Callable | None = None) -> LabelResult:
    """Label one image from strokes and write every output (see the module doc).

    scribbles_path : scripted mode, strokes from this PNG (or the ``sparse`` of a label .mat file); None = interactive (``annotate(image, colors, session)``,
                     by default the OpenCV windows).
    geotiff        : also write ``<name>_mres.tif`` on the source's grid (CRS, transform, nodata kept).
    """
    from ..io.atomic import check_can_write, write_text_atomic
    from ..io.geotiff import LABEL_NODATA, read_geoinfo, read_valid_mask, write_label_geotiff
    from ..io.images import TIFF_EXTENSIONS, read_image, write_image
    from ..io.mat import LabelFile, write_label_mat
    from ..io.text import check_same_length, read_colors, read_labels
    from ..plotting import colorize, save_figure

    image_path = Path(image_path)
    labels = read_labels(labels_path)
    colors = read_colors(colors_path)
    check_same_length(labels, colors, labels_path, colors_path)
    if len(labels) > 255:
        raise InputError(f"labels file {labels_path}: {len(labels)} classes; at most 255 fit a scribbles PNG")
    geo = None
    if geotiff:
        if image_path.suffix.lower() not in TIFF_EXTENSIONS:
            raise InputError(f"--image {image_path}: not a TIFF; label_1geotiff_crf.py reads GeoTIFFs "
                             "(use label_1image_crf.py for photographs)")
        geo = read_geoinfo(image_path)
        if geo is None:
            log.warning("%s has no georeferencing; %s_mres.tif will have none either", image_path, image_path.stem)
    paths = output_paths(image_path, Path(outdir) if outdir else None, geotiff)
    check_can_write(paths["mat"], params.overwrite)  # before any annotation: never waste a person's time
    image = read_image(image_path, bands=params.bands)
    warnings = []
    engine = params.engine
    if not np.ptp(image.reshape(-1, 3), axis=0).any():
        engine = "classifier"  # its position features give each pixel the class of the strokes near it
        warnings.append("the image is one flat colour: each pixel takes the class of the strokes nearest to it")
    started = time.perf_counter()
    n_windows = 0
    if scribbles_path is not None:
        scribbles_path = Path(scribbles_path)
        sparse = (strokes_from_mat(scribbles_path, labels) if scribbles_path.suffix.lower() == ".mat"
                  else read_scribbles(scribbles_path))
        annotation_seconds = 0.0
    else:
        sparse, n_windows = _interactive_strokes(image, labels, colors, params, paths["scribbles"], annotate)
        annotation_seconds = time.perf_counter() - started
        log.info("strokes saved to %s", paths["scribbles"])
    sparse = check_strokes(sparse, image.shape, len(labels))
    missing = [name for k, name in enumerate(labels) if not (sparse == k + 1).any()]
    if missing:
        warnings.append(f"no strokes for {', '.join(missing)}: those classes are never assigned")
    for message in warnings:
        log.warning("warning: %s", message)
    log.info("computing the labels (%s engine, -s %g) ...", params.engine, params.scale)
    started = time.perf_counter()
    crf_params = default_crf_params(engine, params.scale)
    label_image, probs = label_from_strokes(image, sparse, len(labels), crf_params, engine,
                                            ClassifierParams(seed=params.seed))
    compute_seconds = time.perf_counter() - started
    log.info("labels computed in %.1f s", compute_seconds)
    counts = np.bincount(label_image.ravel(), minlength=len(labels))
    proportions = {name: float(c) / label_image.size for name, c in zip(labels, counts)}
    write_label_mat(paths["mat"], LabelFile(label_image, labels, sparse=sparse, probs=probs),
                    overwrite=params.overwrite)
    write_image(paths["label"], label_image.astype(np.uint8))
    write_image(paths["color"], colorize(label_image, colors))
    save_figure(_figure(image, sparse, label_image, labels, colors, image_path.name), paths["figure"])
    report = _report(image_path, image.shape[:2], labels, proportions, params, crf_params, engine,
                     annotation_seconds, compute_seconds, int((sparse > 0).sum()))
    write_text_atomic(paths["report"], report)
    if geotiff:
        from ..io.geotiff import GeoInfo

        grid = geo or GeoInfo(None, _identity(), image.shape[1], image.shape[0])
        valid = read_valid_mask(image_path)
        write_label_geotiff(paths["tif"], np.where(valid, label_image, LABEL_NODATA), grid)
    outputs = {role: path for role, path in paths.items() if path.exists()}
    return LabelResult(outputs, proportions, annotation_seconds, compute_seconds, image.shape[:2], n_windows,
                       warnings)


def _identity():
    from affine import Affine

    return Affine.identity()
