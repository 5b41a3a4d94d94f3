"""GeoTIFF reading and writing with rasterio, keeping the georeferencing (CRS and affine transform).

Label GeoTIFFs carry their provenance record (``dl_tools.provenance_record``) as JSON in the metadata tag
``file_contract.PROVENANCE_TAG`` (``gdalinfo`` lists it), with ``TIFFTAG_SOFTWARE`` naming DL tools' version.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, require
from ..file_contract import LABEL_NODATA, PROVENANCE_TAG, TIFF_EXTENSIONS
from ..provenance_record import current_record, parse_record, record_json
from .atomic import atomic_path


@dataclass(frozen=True)
class GeoInfo:
    """Georeferencing of a raster: ``crs`` (rasterio CRS or None), ``transform`` (affine.Affine), size in pixels."""

    crs: Any
    transform: Any
    width: int
    height: int

    @property
    def is_georeferenced(self) -> bool:
        """True when the source has a CRS or a non-identity transform."""
        from affine import Affine

        return self.crs is not None or self.transform != Affine.identity()


@contextlib.contextmanager
def _quiet_rasterio(rasterio):
    """Silence rasterio's warning about TIFFs without georeferencing: plain TIFF photographs are fine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        yield


@contextlib.contextmanager
def _open(path: Path, fix: str = "give a valid TIFF file"):
    """rasterio.open, quiet about plain TIFFs, with an unreadable file turned into an InputError naming it and
    ending with ``fix``."""
    rasterio = require("rasterio", "rasterio", "read TIFF and GeoTIFF files")
    try:
        with _quiet_rasterio(rasterio), rasterio.open(path) as src:
            yield src
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path} is not a readable image or GeoTIFF ({exc}); {fix}") from exc


def read_raster(path: str | os.PathLike, fix: str = "give a valid TIFF file") -> tuple[np.ndarray, GeoInfo]:
    """Read every band of a raster file: ((H, W, B) array in the file's dtype, GeoInfo); InputError ending with
    ``fix`` when unreadable."""
    with _open(Path(path), fix) as src:
        array = src.read()  # (B, H, W)
        info = GeoInfo(crs=src.crs, transform=src.transform, width=src.width, height=src.height)
    return np.moveaxis(array, 0, -1), info


def raster_shape(path: str | os.PathLike, fix: str = "give a valid TIFF file") -> tuple[int, int]:
    """(rows, columns) of a raster file, from its header; InputError ending with ``fix`` when unreadable."""
    with _open(Path(path), fix) as src:
        return src.height, src.width


def read_geoinfo(path: str | os.PathLike) -> GeoInfo | None:
    """The georeferencing of a TIFF, or None when the file is not a georeferenced TIFF."""
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    with _open(path) as src:
        info = GeoInfo(crs=src.crs, transform=src.transform, width=src.width, height=src.height)
    return info if info.is_georeferenced else None


def read_valid_mask(path: str | os.PathLike) -> np.ndarray:
    """(H, W) bool: True where a raster has data: rasterio's dataset mask (nodata value, alpha band or mask) and,
    in a float raster, no band NaN (a float GeoTIFF often marks no data with NaN without declaring it)."""
    with _open(Path(path)) as src:
        valid = src.dataset_mask() > 0
        for band, dtype in enumerate(src.dtypes, start=1):
            if np.issubdtype(np.dtype(dtype), np.floating):
                valid &= ~np.isnan(src.read(band))  # one band at a time: big float rasters
    return valid


def nodata_mask(path: str | os.PathLike) -> np.ndarray | None:
    """(H, W) bool, True where the TIFF ``path`` has no data (``read_valid_mask``); None for any other image, and
    for a TIFF whose every pixel has data."""
    if Path(path).suffix.lower() not in TIFF_EXTENSIONS:
        return None
    missing = ~read_valid_mask(path)
    return missing if missing.any() else None


def mask_nodata(label_image: np.ndarray, nodata: np.ndarray | None) -> np.ndarray:
    """(H, W) uint8 ``label_image`` with ``LABEL_NODATA`` where ``nodata`` ((H, W) bool, from ``nodata_mask``) is
    True; unchanged when ``nodata`` is None."""
    if nodata is None:
        return label_image
    return np.where(nodata, LABEL_NODATA, label_image).astype(np.uint8)


#: The dataset tag of a label GeoTIFF that names its classes: a JSON list, class index i -> name i.
CLASSES_TAG = "DL_TOOLS_CLASSES"


def class_name_tags(labels: list[str] | None) -> tuple[tuple[str, str], ...]:
    """The dataset tags that name the classes of a label GeoTIFF (none when ``labels`` is None)."""
    return () if labels is None else ((CLASSES_TAG, json.dumps(list(labels))),)


def read_class_names(path: str | os.PathLike) -> list[str] | None:
    """The class names a label GeoTIFF written by DL tools records (``CLASSES_TAG``), or None when it has none."""
    with _open(Path(path), "give a label GeoTIFF written by DL tools") as src:
        text = src.tags().get(CLASSES_TAG)
    if text is None:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
        raise InputError(f"{path}: its {CLASSES_TAG} tag is not a list of class names ({text[:60]!r}); "
                         "write the file again with DL tools")
    return names


def provenance_tags(record: dict | None = None) -> dict[str, str]:
    """The metadata tags of a label GeoTIFF holding ``record`` (default: ``current_record()``); {} for none."""
    record = record if record is not None else current_record()
    if record is None:
        return {}
    return {PROVENANCE_TAG: record_json(record), "TIFFTAG_SOFTWARE": f"DL tools {record['dl_tools']['version']}"}


def read_geotiff_record(path: str | os.PathLike) -> dict | None:
    """The provenance record in a GeoTIFF's tags, or None when it holds none (None with a warning when the
    record does not parse)."""
    with _open(Path(path)) as src:
        text = src.tags().get(PROVENANCE_TAG)
    return None if text is None else parse_record(text, f"{path} (tag {PROVENANCE_TAG})")


def write_label_geotiff(path: str | os.PathLike, label_image: np.ndarray, geo: GeoInfo,
                        nodata: int = LABEL_NODATA, labels: list[str] | None = None,
                        provenance: dict | None = None) -> Path:
    """Write an (H, W) class-index map as a one-band uint8 GeoTIFF on the grid of ``geo`` (atomically).

    Pixel value = 0-based class index; ``nodata`` marks pixels without a class; ``labels`` (the class names) are
    recorded in the ``CLASSES_TAG`` tag. The shape must equal the source's.
    ``provenance``: the record stored in the tags (module doc).
    """
    rasterio = require("rasterio", "rasterio", "write GeoTIFF files")
    label_image = np.asarray(label_image)
    if label_image.shape != (geo.height, geo.width):
        raise ValueError(f"label map {label_image.shape} does not match the raster {(geo.height, geo.width)}")
    profile = dict(driver="GTiff", width=geo.width, height=geo.height, count=1, dtype="uint8", crs=geo.crs,
                   transform=geo.transform, nodata=nodata, compress="deflate")
    with atomic_path(path) as tmp:
        with _quiet_rasterio(rasterio), rasterio.open(tmp, "w", **profile) as dst:  # a plain grid is fine
            dst.write(label_image.astype(np.uint8), 1)
            dst.update_tags(**dict(class_name_tags(labels)), **provenance_tags(provenance))
    return Path(path)
