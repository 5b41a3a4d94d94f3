"""Tutorial step 6: hybrid segmentation (tile classifier + dense CRF) of one image or a folder of images.

For each image ``<name>.<ext>`` it writes, into the output folder (default: the image's folder):

- ``<name>_ares_<tile>.mat``: ``class`` (CRF result, 0-based), ``sparse`` (tile map, 0 = none, k = class k-1) and
  ``labels`` (the model's class names);
- ``<name>_ares_<tile>.png``: figure with the input, the tile map and the CRF result, with a class legend;
- ``<name>_ares_<tile>_color.png``: the CRF result painted in the class colours, at full size;
- ``<name>_ares_<tile>.tif``: for a georeferenced TIFF input, the classes as a GeoTIFF on the input's grid.

Pixels without data in a TIFF input (its no-data value, NaN, alpha band or mask) get ``io.geotiff.LABEL_NODATA``
(255) in the GeoTIFF and no colour in the colour image and the figure's CRF panel; the .mat ``class`` map, which
has no such value, keeps the CRF's class there and its ``nodata`` mask marks them (test_pixels.py leaves them out).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import hybrid_large_outputs, hybrid_outputs
from ..models.frozen import check_model_folder
from ..segmentation.hybrid import HybridParams, HybridResult, segment
from .folder_runs import FolderRun, ImageUnusable, check_outputs, photographs, process_images
from .windowed import WindowedParams, check_resume, is_large, output_rasters

log = logging.getLogger(__name__)

#: Longest side, in pixels, of the panels of the figure (large images are shown downsampled).
FIGURE_MAX_SIDE = 1200


@dataclass
class HybridOutput:
    """Files written for one image, and its tile counts (for a raster segmented by windows: no .mat or colour
    image, the preview as the figure, and the counts of the tiles classified)."""

    image: Path
    mat: Path | None
    figure: Path
    color: Path | None
    geotiff: Path | None
    n_tiles: int
    n_kept: int


def output_paths(image: Path, tile: int, outdir: Path | None) -> dict[str, Path]:
    """The output files of ``image`` (keys mat, figure, color, geotiff)."""
    return hybrid_outputs(Path(outdir) if outdir is not None else image.parent, image.stem, tile)


def images_to_segment(folder: str | os.PathLike) -> list[Path]:
    """The photographs of ``folder`` (``--input-dir``): every image except DL tools' own outputs
    (``file_contract.OUTPUT_PATTERNS``)."""
    from ..io.images import list_images

    return photographs(list_images(folder, flag="--input-dir"), folder, "--input-dir")


def _display(image: np.ndarray) -> np.ndarray:
    """A copy no larger than FIGURE_MAX_SIDE on its long side (nearest neighbour keeps class values)."""
    import cv2

    factor = FIGURE_MAX_SIDE / max(image.shape[:2])
    if factor >= 1:
        return image
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)


def hybrid_figure(image: np.ndarray, result: HybridResult, labels: list[str], colors: np.ndarray,
                  params: HybridParams, title: str, label_image: np.ndarray | None = None):
    """Three panels: input, tile map (tiles below PROB_THRES left out) and CRF result (``label_image``, default
    ``result.label_image``; values >= N left unpainted), with a class legend."""
    from ..plotting import label_overlay, panels_figure

    small = _display(image)
    n = len(labels)
    sparse = _display(result.sparse).astype(np.int64)
    tiles = np.where(sparse > 0, sparse - 1, n)  # no tile: left unpainted
    crf = _display(result.label_image if label_image is None else label_image)
    return panels_figure(
        [("a) Input", small),
         (f"b) Tile classes (p >= {params.prob_thres:g}, DECIM {params.decim})",
          label_overlay(small, tiles, colors)),
         ("c) CRF result", label_overlay(small, crf, colors))],
        labels=labels, colors=colors, title=title)


def _write_outputs(image_path: Path, image: np.ndarray, result: HybridResult, labels: list[str], colors: np.ndarray,
                   params: HybridParams, paths: dict[str, Path], record: dict | None = None) -> HybridOutput:
    """Write the image's outputs (module doc) together: all or none, the .mat last (``io.atomic.atomic_outputs``);
    the .mat and .tif hold the provenance ``record``."""
    from ..io.atomic import atomic_outputs
    from ..io.figures import save_figure
    from ..io.geotiff import mask_nodata, nodata_mask, read_geoinfo, write_label_geotiff
    from ..io.images import write_image
    from ..io.mat import LabelFile, write_label_mat
    from ..plotting import colorize

    nodata = nodata_mask(image_path)
    shown = mask_nodata(result.label_image, nodata)  # no class where a TIFF has no data
    geo = read_geoinfo(image_path)
    written = {kind: path for kind, path in paths.items() if kind != "geotiff" or geo is not None}
    with atomic_outputs(written) as tmp:
        write_label_mat(tmp["mat"], LabelFile(result.label_image, list(labels), sparse=result.sparse, nodata=nodata,
                                              provenance=record))
        write_image(tmp["color"], colorize(shown, colors))
        fig = hybrid_figure(image, result, labels, colors, params, title=image_path.name, label_image=shown)
        save_figure(fig, tmp["figure"])
        if geo is not None:
            write_label_geotiff(tmp["geotiff"], shown, geo, labels=labels, provenance=record)
    return HybridOutput(image_path, paths["mat"], paths["figure"], paths["color"], written.get("geotiff"),
                        len(result.origins), int(result.kept.sum()))


#: What to do about an image whose pixel data turn out unreadable (a damaged file with a good header).
DAMAGED_FIX = "replace it with an undamaged copy, then segment it alone (IMAGE instead of --input-dir)"
#: What to do about an image in which no tile reached PROB_THRES.
NO_TILE_FIX = "segment it alone (IMAGE instead of --input-dir) with a lower PROB_THRES or DECIM"


def _plan(images: list[Path], params: HybridParams, windowed: WindowedParams, outdir: Path | None, overwrite: bool,
          in_folder: bool) -> list[tuple[Path, dict[str, Path]]]:
    """(image, output paths) of each image, after checking the output folders (writable), every image (readable,
    at least one tile) and every output (no clash between images, none existing unless ``overwrite``); a raster
    larger than ``windowed.max_megapixels`` gets the outputs of one segmented by windows."""
    from ..io.atomic import check_output_dir
    from ..io.images import image_shape

    if outdir is not None:
        check_output_dir(outdir, "--outdir", fix="give --outdir a folder you can write to")
    fix = "remove it from --input-dir" if in_folder else "give a JPG, PNG, TIFF or BMP file"
    plan = []
    for image in images:
        if image.is_dir():
            raise InputError(f"IMAGE {image} is a folder; to segment every image in it give IMAGE as '-' and "
                             f"--input-dir {image}")
        if not image.is_file():
            raise InputError(f"IMAGE {image} does not exist; check the path")
        shape = image_shape(image, fix=fix)
        try:
            params.check_size(shape, fix=f"{fix}, or use a model trained on smaller tiles" if in_folder else None)
        except InputError as exc:
            raise InputError(f"{image}: {exc}") from exc
        if is_large(image, windowed):
            from .hybrid_raster import check_windows

            check_windows(params, windowed)
            paths = hybrid_large_outputs(outdir or image.parent, image.stem, params.tile, windowed.probabilities)
            check_resume(output_rasters(paths), windowed, "--outdir")
            plan.append((image, paths))
            continue
        plan.append((image, output_paths(image, params.tile, outdir)))
    check_outputs(plan, overwrite, "rename one of them, or segment them one at a time into different --outdir folders")
    if outdir is None:
        for folder in sorted({image.parent for image in images}):
            check_output_dir(folder, "the image folder", fix="give --outdir a folder you can write to")
    return plan


def _read_and_segment(image_path: Path, classifier, params: HybridParams) -> tuple[np.ndarray, HybridResult]:
    """The image and its HybridResult; InputError naming the image when it cannot be read, ImageUnusable when it
    cannot be segmented (no tile reached PROB_THRES)."""
    from ..io.images import read_image

    image = read_image(image_path)  # its errors name the file
    try:
        return image, segment(image, classifier, params)
    except InputError as exc:
        raise ImageUnusable(f"{image_path}: {exc}", NO_TILE_FIX) from exc


@dataclass(eq=False)
class _Segmenter:
    """The work of ``segment_files`` on one image, the same in this process and as a Dask task (picklable; the
    model loaded once a process, ``distributed.cached_model``): segment it and write its outputs. shared: the
    provenance entries of the model, labels and colours; stand_in: a classifier replacing the model (tests)."""

    model_path: Path
    labels: list[str]
    colors: np.ndarray
    params: HybridParams
    windowed: WindowedParams
    shared: list[dict]
    stand_in: object | None = None

    def classifier(self):
        """The model (loaded on first use in this process) or the stand-in."""
        if self.stand_in is not None:
            return self.stand_in
        from ..models.frozen import FrozenClassifier
        from .distributed import cached_model, file_key

        return cached_model(file_key(self.model_path), lambda: FrozenClassifier(self.model_path))

    def __call__(self, image_path: Path, paths: dict[str, Path], client=None) -> HybridOutput:
        from ..provenance_record import build_record, input_file

        record = build_record("hybrid", self.params, [input_file("image", image_path), *self.shared])
        if "preview" in paths:  # called in the client's process: its windows are the tasks (``client``)
            return self._segment_large(image_path, paths, record, client)
        image, result = _read_and_segment(image_path, self.classifier(), self.params)
        output = _write_outputs(image_path, image, result, self.labels, self.colors, self.params, paths, record)
        log.debug("%s: %d of %d tiles used -> %s", image_path.name, output.n_kept, output.n_tiles, paths["mat"])
        return output

    def _segment_large(self, image_path: Path, paths: dict[str, Path], record: dict, client=None) -> HybridOutput:
        from ..provenance_record import recording
        from .hybrid_raster import segment_raster_by_windows
        from .windowed import source_digest

        model_path = self.model_path
        model_id = f"{model_path.resolve()} {source_digest(model_path) if model_path.is_file() else ''}"
        with recording(record):
            n_tiles, n_kept = segment_raster_by_windows(image_path, self, model_id, self.labels, self.colors,
                                                        self.params, self.windowed, paths, client)
        return HybridOutput(image_path, None, paths["preview"], None, paths["tif"], n_tiles, n_kept)


def segment_files(images: list[Path], model_path: str | os.PathLike, labels_path: str | os.PathLike,
                  colors_path: str | os.PathLike, params: HybridParams, outdir: str | os.PathLike | None = None,
                  overwrite: bool = False, classifier=None, in_folder: bool = False,
                  windowed: WindowedParams | None = None, client=None) -> FolderRun:
    """Segment each of ``images`` with the frozen model ``model_path`` and write its outputs (see module doc).

    Every input is checked before the model is loaded: labels and colours read, every image readable and at least
    one tile in size, no two images with the same outputs, no existing output unless ``overwrite``, the output
    folders writable; then the model and labels must have equal class counts. What can only be found while
    segmenting (no tile reaching PROB_THRES, an image whose pixel data are damaged) stops a single image with
    InputError; in a folder run (``in_folder``, ``--input-dir``) that image is skipped with a warning and listed,
    with the fix for its reason, in ``FolderRun.skipped`` (``folder_runs.process_images``); InputError is raised
    only when no image at all was segmented. ``FolderRun.outputs`` holds a HybridOutput per segmented image.
    A GeoTIFF larger than ``windowed.max_megapixels`` (default ``WindowedParams()``) is segmented window by window
    (``workflows.hybrid_raster``).
    Temporary files that an interrupted run left in the output folders are removed first. ``classifier``
    replaces the model (tests). With a Dask ``client`` (``workflows.distributed``) each image is a task, segmented
    and written on a worker that loads the model once; the outputs are those of the serial run.
    """
    from ..io.atomic import remove_stale_temporaries
    from ..io.text import read_class_colors, read_labels
    from ..provenance_record import input_file

    started = time.time()
    windowed = (windowed or WindowedParams()).with_halo()
    images = [Path(p) for p in images]
    model_path = Path(model_path)
    check_model_folder(model_path, "MODEL.pb")
    labels = read_labels(labels_path)
    colors = read_class_colors(colors_path, labels, labels_path)
    params.check_classes(len(labels))
    plan = _plan(images, params, windowed, Path(outdir) if outdir is not None else None, overwrite, in_folder)
    for folder in sorted({next(iter(paths.values())).parent for _, paths in plan}):
        remove_stale_temporaries(folder, started)
    shared = [input_file(role, path) for role, path in (("model", model_path), ("labels", labels_path),
                                                        ("colors", colors_path))
              if Path(path).is_file()]  # a test's stand-in classifier may have no model file
    task = _Segmenter(model_path.absolute(), labels, colors, params, windowed, shared, classifier)  # for workers
    model = task.classifier()
    if int(model.n_classes) != len(labels):
        raise InputError(f"model {model_path} predicts {model.n_classes} classes but labels file {labels_path} "
                         f"names {len(labels)}; give the labels file written with this model")
    if tuple(model.input_size) != (params.tile, params.tile):
        log.warning("TILE %d differs from the model's input size %s: tiles are cut at %d px and resized to it",
                    params.tile, "x".join(map(str, model.input_size)), params.tile)
    return process_images(plan, task, skip=in_folder, fix=DAMAGED_FIX, flag="--input-dir", done="segmented",
                          client=client, on_client=lambda item: "preview" in item[1])
