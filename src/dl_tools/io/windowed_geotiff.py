"""Rasters of any size, window by window: reading a window with a mirrored margin, and writing output GeoTIFFs as
the windows are done, resumably.

Reading: ``read_window`` reads the bands of one window of a raster (rasterio, never the whole file) with its halo;
where the halo sticks out of the raster it is filled by mirroring the raster about its edge (numpy's "symmetric"
padding), as a whole-image run sees it. ``valid`` says which pixels have data.

Writing: ``WindowedGeoTIFFs`` holds the output rasters of one run (for example the class map, and the per-class
probabilities). Each is created once, tiled 512 x 512 and DEFLATE-compressed (BigTIFF when it must be), on the
source's grid (CRS, transform), under the name ``<name>.partial.tif`` until the last window is written. A journal
``<first output>.partial.json`` records the run's settings and the windows written so far; it is updated after each
window, once that window's pixels are on disk (the rasters are closed and opened again, which writes their
directories). ``--resume`` continues from the journal's windows; a journal of other settings is refused, naming the
setting. ``finish`` adds overviews (so QGIS opens the file at once), renames each raster to its final name
(optionally converting it to a Cloud Optimized GeoTIFF with GDAL's COG driver) and removes the journal.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays.tiling import mirror_index
from ..errors import InputError, require
from .atomic import write_text_atomic
from .geotiff import GeoInfo

BLOCK = 512  # pixels: the tile size of the output GeoTIFFs
PARTIAL = ".partial"
#: MB of GDAL's block cache while a raster is processed by windows (GDAL's default is 5 % of the machine's memory,
#: which would make the process grow with the raster up to that size)
GDAL_CACHE_MB = 128
#: overview levels are added while the smaller side of the level is at least this many pixels
OVERVIEW_MIN_SIDE = 256


@dataclass(frozen=True)
class RasterInfo:
    """What a windowed run needs of a raster, read from its header: (H, W), bands, dtype, georeferencing."""

    path: Path
    height: int
    width: int
    count: int
    dtype: str
    geo: GeoInfo

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6


@contextlib.contextmanager
def open_raster(path: str | os.PathLike, fix: str = "give a valid GeoTIFF") -> Iterator[Any]:
    """rasterio dataset of ``path`` (quiet about plain TIFFs); InputError naming it and ending with ``fix``."""
    from .geotiff import _open

    with _open(Path(path), fix) as src:
        yield src


@contextlib.contextmanager
def bounded_gdal_cache() -> Iterator[None]:
    """Within the block, GDAL caches at most ``GDAL_CACHE_MB`` of raster blocks."""
    rasterio = require("rasterio", "rasterio", "read GeoTIFF files")
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20):  # bytes: a small number would be bytes too
        yield


def raster_info(path: str | os.PathLike) -> RasterInfo:
    """The header of a raster as a RasterInfo (nothing else is read)."""
    with open_raster(path) as src:
        geo = GeoInfo(crs=src.crs, transform=src.transform, width=src.width, height=src.height)
        return RasterInfo(Path(path), src.height, src.width, src.count, src.dtypes[0], geo)


def read_window(src, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Read rows ``row``..``row+height`` and columns ``col``..``col+width`` of an open rasterio dataset (may stick
    out of the raster) -> (pixels (height, width, B) in the file's dtype, valid (height, width) bool).

    Outside the raster the pixels are mirrored about its edge; ``valid`` is False where the raster has no data
    (its no-data value, NaN, or mask), mirrored the same way."""
    from rasterio.windows import Window

    rows = mirror_index(row, height, src.height, "symmetric")
    cols = mirror_index(col, width, src.width, "symmetric")
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    window = Window(c0, r0, c1 - c0, r1 - r0)
    data = np.moveaxis(src.read(window=window), 0, -1)
    valid = src.read_masks(window=window).min(axis=0) > 0
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(data).all(axis=2)
    if (r0, r1, c0, c1) != (row, row + height, col, col + width):
        data, valid = data[np.ix_(rows - r0, cols - c0)], valid[np.ix_(rows - r0, cols - c0)]
    return data, valid


@dataclass(frozen=True)
class OutputRaster:
    """One output of a windowed run: its final path, number of bands, no-data value (None: every value is a
    value, as for probabilities), dataset tags ((key, value) pairs, e.g. ``geotiff.class_name_tags``) and band
    descriptions (one per band, or none)."""

    path: Path
    count: int = 1
    nodata: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    descriptions: tuple[str, ...] = ()

    @property
    def partial(self) -> Path:
        return self.path.with_name(f"{self.path.stem}{PARTIAL}{self.path.suffix}")


def journal_path(outputs: list[OutputRaster]) -> Path:
    """The journal of a run: beside its first output."""
    return outputs[0].partial.with_suffix(".json")


def leftovers(outputs: list[OutputRaster]) -> list[Path]:
    """The partial files of an interrupted run of these outputs that exist now."""
    return [p for p in [journal_path(outputs), *(o.partial for o in outputs)] if p.exists()]


class WindowedGeoTIFFs:
    """The output rasters of one windowed run (see the module doc). ``done`` is the set of window indices already
    written (from the journal when resuming)."""

    def __init__(self, outputs: list[OutputRaster], geo: GeoInfo, settings: dict, resume: bool = False):
        self.outputs, self.geo, self.settings = outputs, geo, json.loads(json.dumps(settings))
        self.journal = journal_path(outputs)
        self.done: set[int] = set()
        if resume and self.journal.exists():
            self._resume()
        else:
            for path in leftovers(outputs):
                path.unlink()
            for output in outputs:
                self._create(output)
            self._write_journal()

    def _resume(self) -> None:
        try:
            record = json.loads(self.journal.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"--resume: {self.journal} cannot be read ({exc}); run again without --resume") from exc
        for key in sorted(set(record.get("settings", {})) | set(self.settings)):
            if record.get("settings", {}).get(key) != self.settings.get(key):
                raise InputError(f"--resume: the interrupted run used {key} = {record['settings'].get(key)!r}, "
                                 f"this one {self.settings.get(key)!r}; give the same settings, or run again "
                                 "without --resume to start over")
        missing = [o.partial for o in self.outputs if not o.partial.is_file()]
        if missing:
            raise InputError(f"--resume: {missing[0]} is missing; run again without --resume to start over")
        self.done = set(record.get("windows", []))

    def _profile(self, output: OutputRaster) -> dict:
        geo = self.geo
        tiled = geo.width >= BLOCK and geo.height >= BLOCK
        profile = dict(driver="GTiff", width=geo.width, height=geo.height, count=output.count, dtype="uint8",
                       crs=geo.crs, transform=geo.transform, nodata=output.nodata, compress="deflate",
                       BIGTIFF="IF_SAFER", tiled=tiled)
        if tiled:
            profile.update(blockxsize=BLOCK, blockysize=BLOCK)
        return profile

    def _create(self, output: OutputRaster) -> None:
        rasterio = require("rasterio", "rasterio", "write GeoTIFF files")
        from .geotiff import _quiet_rasterio, provenance_tags

        with _quiet_rasterio(rasterio), rasterio.open(output.partial, "w", **self._profile(output)) as dst:
            dst.update_tags(**dict(output.tags), **provenance_tags())  # the record of the step's ``recording`` block
            for band, description in enumerate(output.descriptions, start=1):
                dst.set_band_description(band, description)

    def _write_journal(self) -> None:
        record = {"settings": self.settings, "windows": sorted(self.done)}
        write_text_atomic(self.journal, json.dumps(record))

    def write(self, index: int, row: int, col: int, arrays: list[np.ndarray]) -> None:
        """Write window ``index``: one (h, w) or (h, w, count) uint8 array per output, its top-left pixel at
        (``row``, ``col``); then record it in the journal."""
        rasterio = require("rasterio", "rasterio", "write GeoTIFF files")
        from rasterio.windows import Window

        from .geotiff import _quiet_rasterio

        for output, array in zip(self.outputs, arrays):
            array = np.asarray(array, dtype=np.uint8)
            bands = array[None] if array.ndim == 2 else np.moveaxis(array, 2, 0)
            window = Window(col, row, bands.shape[2], bands.shape[1])
            with _quiet_rasterio(rasterio), rasterio.open(output.partial, "r+") as dst:
                dst.write(bands, window=window)
        self.done.add(index)
        self._write_journal()

    def finish(self, cog: bool = False) -> list[Path]:
        """Add overviews, give each raster its final name (as a COG when ``cog``), remove the journal."""
        rasterio = require("rasterio", "rasterio", "write GeoTIFF files")
        from rasterio.enums import Resampling

        from .geotiff import _quiet_rasterio

        for output in self.outputs:
            with _quiet_rasterio(rasterio), rasterio.open(output.partial, "r+") as dst:
                levels = overview_levels(dst.height, dst.width)
                if levels:
                    dst.build_overviews(levels, Resampling.nearest)
                    dst.update_tags(ns="rio_overview", resampling="nearest")
            if cog:
                to_cog(output.partial, output.path)
                output.partial.unlink()
            else:
                os.replace(output.partial, output.path)
        self.journal.unlink(missing_ok=True)
        return [output.path for output in self.outputs]


def overview_levels(height: int, width: int) -> list[int]:
    """Decimation factors 2, 4, 8, ... while the smaller side of the reduced raster is at least
    ``OVERVIEW_MIN_SIDE`` pixels."""
    levels, factor = [], 2
    while min(height, width) // factor >= OVERVIEW_MIN_SIDE:
        levels.append(factor)
        factor *= 2
    return levels


def to_cog(source: Path, target: Path) -> Path:
    """Copy a GeoTIFF to a Cloud Optimized GeoTIFF (GDAL's COG driver: DEFLATE, 512 px blocks, nearest-neighbour
    overviews, BigTIFF when needed), atomically."""
    rasterio = require("rasterio", "rasterio", "write GeoTIFF files")
    copy = require("rasterio.shutil", "rasterio", "write GeoTIFF files").copy

    from .atomic import atomic_path
    from .geotiff import _quiet_rasterio

    with atomic_path(target) as tmp, _quiet_rasterio(rasterio):
        copy(source, tmp, driver="COG", compress="DEFLATE", blocksize=BLOCK,
                             overview_resampling="NEAREST", bigtiff="IF_SAFER")
    return target
