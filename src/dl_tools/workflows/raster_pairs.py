"""Step 7 on label GeoTIFFs of any size: the confusion matrix of an estimate raster against its truth raster,
accumulated window by window (never a whole raster in memory).

The classes of a label GeoTIFF are the names DL tools records in it (``io.geotiff.CLASSES_TAG``); a GeoTIFF made
elsewhere, without them, takes the class names of the other file of its pair (class index i = the same class i),
and the log says so. Pixels that either raster masks (its no-data value, 255 in DL tools' label GeoTIFFs) are left
out. The two rasters must be on one grid (same size and, when both are georeferenced, the same CRS and
transform); with ``resize``, an estimate of another size is read resampled to the truth's size (nearest
neighbour), as ``--resize`` does for .mat files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.geotiff import read_class_names
from ..io.windowed_geotiff import RasterInfo, bounded_gdal_cache, open_raster

log = logging.getLogger(__name__)

#: rows and columns of the windows the matrix is accumulated over (2 x 4 megapixels of uint8 at a time)
SCORE_WINDOW = 2048


def describe_grid(info: RasterInfo) -> str:
    """A raster's grid in words: size, and origin, pixel size and CRS when it has a CRS."""
    transform = info.geo.transform
    where = (f", origin ({transform.c:g}, {transform.f:g}), pixel {transform.a:g}, {info.geo.crs}"
             if info.geo.crs is not None else ", not georeferenced")
    return f"{info.width} x {info.height} px{where}"


def check_grids(reference: RasterInfo, other: RasterInfo, resize: bool | None, of: str = "its truth") -> None:
    """InputError, naming both grids, when ``other`` is not on the grid of ``reference`` (``of`` says what that
    is): another size without ``resize`` (None: no resizing offered), or, when both have a CRS, other
    georeferencing."""
    same_size = (reference.height, reference.width) == (other.height, other.width)
    same_place = reference.geo.crs is None or other.geo.crs is None or (
        reference.geo.crs == other.geo.crs
        and np.allclose(tuple(reference.geo.transform)[:6], tuple(other.geo.transform)[:6], rtol=0, atol=1e-9))
    if (same_size and same_place) or (resize and not same_size):  # resized by pixel index, as for .mat files
        return
    if resize is None:
        fix = f"make it on the grid of {of}"
    elif same_size:
        fix = "label the estimate on the truth's grid (or warp one onto the other first)"
    else:
        fix = "give --resize to resize the estimate (nearest neighbour) to the truth's size"
    raise InputError(f"{other.path.name} ({describe_grid(other)}) is not on the grid of {of} {reference.path.name} "
                     f"({describe_grid(reference)}); {fix}")


def pair_class_names(truth: Path, estimate: Path) -> tuple[list[str], list[str]]:
    """(truth classes, estimate classes) of a pair of label GeoTIFFs (module doc); InputError when neither names
    its classes."""
    truth_names, estimate_names = read_class_names(truth), read_class_names(estimate)
    if truth_names is None and estimate_names is None:
        raise InputError(f"neither {estimate.name} nor its truth {truth.name} names its classes (a tag DL tools "
                         "writes in its label GeoTIFFs); write one of them with DL tools")
    for path, names in ((truth, truth_names), (estimate, estimate_names)):
        if names is None:
            log.info("%s names no classes: class i is taken as class i of the other file of its pair", path.name)
    return truth_names or estimate_names, estimate_names or truth_names


def raster_confusion(truth: Path, estimate: Path, truth_lut: np.ndarray, estimate_lut: np.ndarray, n_classes: int,
                     resize: bool) -> np.ndarray:
    """(N, N) int64 confusion matrix (rows = truth) of two label GeoTIFFs, window by window.

    truth_lut, estimate_lut : (C,) int64 index into the N scored classes of each class value of the file.
    Pixels masked in either file are left out; a class value beyond a file's classes is an InputError.
    """
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    from ..metrics import confusion_matrix

    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    with bounded_gdal_cache(), open_raster(truth) as t_src, open_raster(estimate) as e_src:
        scale_rows, scale_cols = e_src.height / t_src.height, e_src.width / t_src.width
        for row in range(0, t_src.height, SCORE_WINDOW):
            for col in range(0, t_src.width, SCORE_WINDOW):
                window = Window(col, row, min(SCORE_WINDOW, t_src.width - col), min(SCORE_WINDOW, t_src.height - row))
                t_values, t_valid = t_src.read(1, window=window), t_src.read_masks(1, window=window) > 0
                if (scale_rows, scale_cols) == (1.0, 1.0):
                    e_values, e_valid = e_src.read(1, window=window), e_src.read_masks(1, window=window) > 0
                else:
                    e_window = Window(col * scale_cols, row * scale_rows, window.width * scale_cols,
                                      window.height * scale_rows)
                    shape = (int(window.height), int(window.width))
                    e_values = e_src.read(1, window=e_window, out_shape=shape, resampling=Resampling.nearest)
                    e_valid = e_src.read_masks(1, window=e_window, out_shape=shape,
                                               resampling=Resampling.nearest) > 0
                valid = t_valid & e_valid
                t_index = _classes(t_values, valid, truth_lut, truth)
                e_index = _classes(e_values, valid, estimate_lut, estimate)
                confusion += confusion_matrix(t_index, e_index, n_classes, valid=valid)
    return confusion


def _classes(values: np.ndarray, valid: np.ndarray, lut: np.ndarray, path: Path) -> np.ndarray:
    """The scored class of each pixel of a window; InputError when a valid pixel holds an unknown class."""
    beyond = valid & (values >= len(lut))
    if beyond.any():
        raise InputError(f"{path.name} holds class value {int(values[beyond].max())} but names {len(lut)} classes "
                         "(0..{}); give the label GeoTIFF its classes' names, or mark the pixel as no data"
                         .format(len(lut) - 1))
    return np.where(valid, lut[np.minimum(values, len(lut) - 1)], 0)
