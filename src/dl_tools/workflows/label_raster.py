"""Step 2 in scripted mode on a GeoTIFF larger than ``--max-megapixels``: the labelling engine window by window.

The strokes are a one-band GeoTIFF on the image's grid (0 = no stroke, k = class k-1, as a scribbles PNG), drawn
for example in QGIS. Each window of the image, with its halo, goes through the same engine as a whole image
(``labelling.engine.label_from_strokes``, the engine's measured CRF settings at ``-s``); only its core is kept and
written into ``<name>_mres.tif`` (classes named in its tags, 255 where the image has no data), with a reduced
preview ``<name>_mres_preview.png``. A window whose strokes (halo included) are none is given no class (255): the
CRF spreads strokes over a window, not across the raster, so strokes must be spread over the raster; the log
counts such windows. ``--resume`` continues an interrupted run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import LABEL_NODATA, TIFF_EXTENSIONS, label_large_outputs
from ..io.windowed_geotiff import RasterInfo
from .windowed import WindowedParams, WindowedResult, check_resume, output_rasters, params_record, segment_large

log = logging.getLogger(__name__)


@dataclass
class LargeLabelResult:
    """What a windowed labelling wrote, its windows, and the windows left without class for want of strokes."""

    outputs: dict[str, Path]
    windowed: WindowedResult
    without_strokes: int


def check_strokes_raster(strokes: Path, image: RasterInfo, n_classes: int, limit: float) -> None:
    """InputError unless ``strokes`` is a one-band GeoTIFF on the grid of the raster ``image``."""
    from ..io.windowed_geotiff import raster_info
    from .raster_pairs import check_grids

    if strokes.suffix.lower() not in TIFF_EXTENSIONS:
        raise InputError(f"--scribbles {strokes}: {image.path.name} ({image.megapixels:.0f} megapixels, above "
                         f"--max-megapixels {limit:g}) is labelled by windows and takes its strokes as a one-band "
                         "GeoTIFF on its grid (0 = no stroke, k = class k-1)")
    info = raster_info(strokes)
    if info.count != 1:
        raise InputError(f"--scribbles {strokes} has {info.count} bands; give one band of class numbers "
                         "(0 = no stroke, k = class k-1)")
    check_grids(image, info, resize=None, of="the image")
    if n_classes > 254:
        raise InputError(f"{n_classes} classes do not fit a uint8 label GeoTIFF with 255 for no data")


def label_large(image_path: Path, strokes_path: Path, labels: list[str], colors: np.ndarray, params,
                windowed: WindowedParams, outdir: Path | None) -> LargeLabelResult:
    """Label the raster ``image_path`` from the strokes GeoTIFF ``strokes_path`` window by window (module doc);
    ``params``: the step's LabelParams (scale, engine, bands, overwrite)."""
    from ..arrays.resize import resize_image
    from ..io.atomic import check_can_write, check_output_dir
    from ..io.windowed_geotiff import bounded_gdal_cache, open_raster, raster_info, read_window
    from ..labelling.engine import default_crf_params, label_from_strokes

    info = raster_info(image_path)
    check_strokes_raster(strokes_path, info, len(labels), windowed.max_megapixels)
    folder = outdir or image_path.parent
    check_output_dir(folder, "--outdir" if outdir else "output folder", "give --outdir FOLDER for the outputs")
    paths = label_large_outputs(folder, image_path.stem, windowed.probabilities)
    check_resume(output_rasters(paths), windowed, "--outdir" if outdir else "the image's folder")
    check_can_write(paths["tif"], params.overwrite)
    crf = default_crf_params(params.engine, params.scale)
    without_strokes = 0

    with bounded_gdal_cache(), open_raster(strokes_path) as strokes_src:

        def segment(image: np.ndarray, valid: np.ndarray, context) -> tuple[np.ndarray, np.ndarray | None]:
            nonlocal without_strokes
            height, width = image.shape[:2]
            sparse = read_window(strokes_src, context.top, context.left, height, width)[0][..., 0]
            if sparse.max(initial=0) > len(labels):
                raise InputError(f"--scribbles {strokes_path} holds class {int(sparse.max())} but {len(labels)} "
                                 "classes are named; give strokes of 0 (none) to the number of classes")
            if not sparse.any():
                without_strokes += 1
                return np.full((height, width), LABEL_NODATA, np.uint8), None
            label_image, marginals = label_from_strokes(image, sparse, len(labels), crf, params.engine)
            return label_image, resize_image(marginals, (height, width)) if windowed.probabilities else None

        settings = {"strokes": strokes_path.name, "labels": list(labels), "label": params_record(params), "crf":
                    params_record(crf)}
        result = segment_large(image_path, paths, labels, colors, segment, windowed, settings, params.bands)
    if without_strokes:
        log.warning("%s: %d of %d windows hold no stroke and were given no class (255); add strokes there and "
                    "run again", image_path.name, without_strokes, result.windows)
    return LargeLabelResult({role: path for role, path in paths.items() if path.exists()}, result, without_strokes)
