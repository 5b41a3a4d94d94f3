"""Segmenting a raster of any size window by window, with memory that does not grow with the raster.

A raster larger than ``WindowedParams.max_megapixels`` is never read whole. A window plan
(``arrays.tiling.plan_windows``, edge "mirror") lays cores of ``window`` x ``window`` px side by side over it, each
core inside a window widened by ``halo`` px of context on every side (mirrored about the raster's edge where the
window sticks out, as a whole-image run sees it). For each window in turn the caller's ``segment`` function turns
the window's (h, w, 3) uint8 pixels into a class map and per-class probabilities, for the whole window (a network
blends its own overlapping tiles inside the window; a CRF sees the window with its halo); only the core is kept and
written, as it goes, into the output GeoTIFFs (``io.windowed_geotiff``: tiled, compressed, resumable). A window
whose core has no valid pixel is not segmented: it is written as no data (255).

Cores are multiples of 512 px, the GeoTIFF's block size, so each block is written once. Colours: every window is
converted to RGB with one value range for the whole raster (``arrays.color.rgb_value_range`` of a reduced read).
When the run ends, a preview figure (the raster and the classes at reduced resolution) is written beside the
outputs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..arrays.color import rgb_value_range, to_rgb_uint8
from ..arrays.tiling import plan_windows
from ..errors import InputError
from ..file_contract import LABEL_NODATA
from ..io.windowed_geotiff import (
    BLOCK,
    OutputRaster,
    WindowedGeoTIFFs,
    bounded_gdal_cache,
    leftovers,
    open_raster,
    raster_info,
    read_window,
)
from ..terminal import count, progress

log = logging.getLogger(__name__)

#: longest side, in pixels, of the reduced reads: the value range of the colours and the preview figure
PREVIEW_SIDE = 2000
#: px of context around a window's core where what runs on the window needs the pixels beyond it (a CRF, the
#: hybrid method's tiles): the halo unless --halo gives one (``WindowedParams.with_halo``)
CONTEXT_HALO = 256



@dataclass(frozen=True)
class WindowContext:
    """Where a window lies, for a ``segment`` function that needs more of the raster than the window.

    top, left : the window's top-left pixel (halo included) in the raster; negative when it sticks out.
    shape     : (H, W) of the raster.
    read      : (row, col, height, width) -> (height, width, 3) uint8 RGB of any part of the raster, converted as
                the window was (mirrored about the raster's edge outside it).
    """

    top: int
    left: int
    shape: tuple[int, int]
    read: Callable[[int, int, int, int], np.ndarray]

    def inside(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom and right excluded, of the part of the ``height`` x ``width`` window
        that lies inside the raster."""
        return (max(self.top, 0), max(self.left, 0), min(self.top + height, self.shape[0]),
                min(self.left + width, self.shape[1]))

    def mirrored(self, inside: np.ndarray, height: int, width: int) -> np.ndarray:
        """(height, width, ...) array of the window from ``inside``, an array over its part inside the raster
        (``inside``), mirrored about the raster's edge where the window sticks out, as its pixels are."""
        from ..arrays.tiling import mirror_index

        top, left, bottom, right = self.inside(height, width)
        if (top, left, bottom, right) == (self.top, self.left, self.top + height, self.left + width):
            return inside
        rows = np.clip(mirror_index(self.top, height, self.shape[0], "symmetric") - top, 0, inside.shape[0] - 1)
        cols = np.clip(mirror_index(self.left, width, self.shape[1], "symmetric") - left, 0, inside.shape[1] - 1)
        return inside[np.ix_(rows, cols)]


#: (h, w, 3) uint8 window, (h, w) bool valid, its WindowContext -> ((h, w) uint8 classes, (h, w, N) float32
#: probabilities in [0, 1])
SegmentWindow = Callable[[np.ndarray, np.ndarray, WindowContext], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class WindowedParams:
    """How a raster is processed by windows (see the module doc).

    window         : core size in px, a multiple of 512.
    halo           : px of context around each core, on each side; None: what the step needs (``with_halo``).
    max_megapixels : rasters larger than this are processed by windows (and get no .mat or PNG outputs).
    resume         : continue an interrupted run from its last written window.
    cog            : convert the finished GeoTIFFs to Cloud Optimized GeoTIFFs.
    probabilities  : also write the per-class probabilities as a uint8 GeoTIFF (0-255 for 0-1), one band a class.
    """

    window: int = 2048
    halo: int | None = None
    max_megapixels: float = 100.0
    resume: bool = False
    cog: bool = False
    probabilities: bool = False

    def __post_init__(self):
        if self.window < BLOCK or self.window % BLOCK:
            raise InputError(f"--window must be a multiple of {BLOCK} px (--raster-window in label_1geotiff_crf.py), "
                             f"got {self.window}")
        if self.halo is not None and self.halo < 0:
            raise InputError(f"--halo must be 0 or more px, got {self.halo}")
        if not self.max_megapixels >= 0:
            raise InputError(f"--max-megapixels must be 0 or more, got {self.max_megapixels}")

    def with_halo(self, needed: int = CONTEXT_HALO) -> WindowedParams:
        """These params with the halo the step ``needed`` (px) unless one was given: ``CONTEXT_HALO`` where a CRF
        or the hybrid method's tiles run on the window; 0 where the step computes any region exactly from the
        pixels beyond it (the network of step 8 alone: no halo to pay for)."""
        return self if self.halo is not None else replace(self, halo=needed)

    def settings(self) -> dict:
        """What must not change between a run and its --resume."""
        return {"window": self.window, "halo": self.halo, "probabilities": self.probabilities}


@dataclass
class WindowedResult:
    """outputs: the GeoTIFFs and the preview written; windows: windows segmented in this run; empty: windows of
    pure no-data (not segmented); resumed: windows written by an earlier run; segmented: the plan indices of the
    windows segmented in this run; write_seconds: time this process spent writing windows; reduced: the reduced
    read of the raster's pixels (``reduced_read``), kept for the preview (a second read of a raster without
    overviews would read all of it again)."""

    outputs: list[Path] = field(default_factory=list)
    windows: int = 0
    empty: int = 0
    resumed: int = 0
    megapixels: float = 0.0
    seconds: float = 0.0
    segmented: list[int] = field(default_factory=list)
    write_seconds: float = 0.0
    reduced: np.ndarray | None = field(default=None, repr=False)


def output_rasters(paths: dict[str, Path], labels: list[str] = ()) -> list[OutputRaster]:
    """The OutputRasters of a raster labelled by windows: the class map ``paths["tif"]`` (its classes named in its
    tags), and the probabilities ``paths["probabilities"]`` when there (one band a class, named); without
    ``labels``, only their names are right (to look for an interrupted run)."""
    from ..io.geotiff import class_name_tags

    rasters = [OutputRaster(paths["tif"], 1, LABEL_NODATA, tags=class_name_tags(labels))]
    if "probabilities" in paths:
        rasters.append(OutputRaster(paths["probabilities"], len(labels), descriptions=tuple(labels)))
    return rasters


def is_large(path: str | Path, params: WindowedParams) -> bool:
    """True when ``path`` is a TIFF larger than ``params.max_megapixels``, so it is processed by windows."""
    from ..file_contract import TIFF_EXTENSIONS

    return Path(path).suffix.lower() in TIFF_EXTENSIONS and raster_info(path).megapixels > params.max_megapixels


def reduced_read(src, side: int = PREVIEW_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """The whole raster at most ``side`` px on its longer side: ((h, w, B) pixels, (h, w) bool valid); rasterio
    takes the overviews when the file has them."""
    factor = max(1, int(np.ceil(max(src.height, src.width) / side)))
    shape = (max(1, src.height // factor), max(1, src.width // factor))
    data = np.moveaxis(src.read(out_shape=(src.count, *shape)), 0, -1)
    valid = src.read_masks(out_shape=(src.count, *shape)).min(axis=0) > 0
    return data, valid


def source_digest(path: Path) -> str:
    """A cheap fingerprint of a raster for --resume: its size, modification time and first MB."""
    stat = path.stat()
    with open(path, "rb") as handle:
        head = hashlib.sha256(handle.read(1 << 20)).hexdigest()[:16]
    return f"{stat.st_size}:{int(stat.st_mtime)}:{head}"


def check_resume(outputs: list[OutputRaster], params: WindowedParams, flag: str) -> None:
    """InputError for --resume without an interrupted run to continue; info for partial files a new run replaces."""
    found = leftovers(outputs)
    if params.resume and not found:
        raise InputError(f"--resume: there is no interrupted run of {outputs[0].path.name} in {flag} "
                         f"{outputs[0].path.parent}; run without --resume")
    if found and not params.resume:
        log.info("starting %s afresh: the partial files of an interrupted run are replaced (give --resume to "
                 "continue that run instead)", outputs[0].path.name)


class RasterReader:
    """Reads parts of one raster for a window's work, in this process or on a Dask worker (picklable: the open
    dataset is not pickled but opened again, once, where the reader is used; GDAL's cache bounded to
    ``io.windowed_geotiff.GDAL_CACHE_MB`` around each read).

    source      : the raster.
    bands       : the 1-based bands made RGB (None: the first three).
    value_range : the (lo, hi) values mapped to 0-255, one for the whole raster (``arrays.color.rgb_value_range``).
    """

    def __init__(self, source: Path, bands: tuple[int, ...] | None, value_range: tuple[float, float], src=None):
        self.source, self.bands, self.value_range = Path(source), bands, value_range
        self._src, self._stack = src, None

    def __getstate__(self) -> dict:
        return {"source": self.source, "bands": self.bands, "value_range": self.value_range}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    @property
    def src(self):
        """The open rasterio dataset (opened on first use)."""
        if self._src is None:
            import contextlib

            self._stack = contextlib.ExitStack()
            self._src = self._stack.enter_context(open_raster(self.source))
        return self._src

    def close(self) -> None:
        """Close the dataset this reader opened (none given to it)."""
        if self._stack is not None:
            self._stack.close()
            self._src, self._stack = None, None

    def window(self, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """((height, width, B) pixels in the file's dtype, (height, width) bool valid), mirrored about the edge
        (``io.windowed_geotiff.read_window``)."""
        with bounded_gdal_cache():
            return read_window(self.src, row, col, height, width)

    def rgb(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        """(height, width, 3) uint8 RGB of any part of the raster, mirrored about its edge outside it."""
        return self.to_rgb(self.window(row, col, height, width)[0])

    def to_rgb(self, pixels: np.ndarray) -> np.ndarray:
        """(h, w, B) pixels of this raster -> (h, w, 3) uint8 RGB, converted with the raster's value range."""
        return to_rgb_uint8(pixels, self.bands, path=str(self.source), value_range=self.value_range)


@dataclass(frozen=True)
class WindowOutput:
    """What the work on one window returns, to be written by the one writer of the run.

    index : the window's place in the plan.
    label : (h, w) uint8 classes of the window's core (``LABEL_NODATA`` where there is no data).
    probs : (h, w, N) uint8 probabilities of the core (0-255 for 0-1), or None when not written.
    empty : the core had no valid pixel, so it was not segmented.
    """

    index: int
    label: np.ndarray
    probs: np.ndarray | None
    empty: bool


class WindowTask:
    """The work on one window of a raster: read it (with its halo) from the raster, segment it, keep the core.

    The same callable serves the serial loop (in this process) and Dask (one task a window, on a worker: it is
    picklable when ``segment`` is, and it is sent to each worker once; per task only the window's geometry goes
    out and the core's uint8 arrays come back). ``n_probs``: the bands of the probabilities output, or None when
    the run writes none. ``inputs``: the files a worker must see (``workflows.distributed``).
    """

    def __init__(self, reader: RasterReader, shape: tuple[int, int], segment: SegmentWindow, n_probs: int | None):
        self.reader, self.shape, self.segment, self.n_probs = reader, tuple(shape), segment, n_probs

    @property
    def inputs(self) -> tuple[Path, ...]:
        return (self.reader.source,)

    def __call__(self, index: int, window) -> WindowOutput:
        pixels, valid = self.reader.window(window.row, window.col, window.height, window.width)
        rows, cols = window.core
        empty = not valid[rows, cols].any()
        if empty:  # pure no data: nothing to segment
            label_image = np.full(valid.shape, LABEL_NODATA, np.uint8)
            probs = np.zeros(valid.shape + (self.n_probs,), np.float32) if self.n_probs else None
        else:
            context = WindowContext(window.row, window.col, self.shape, self.reader.rgb)
            label_image, probs = self.segment(self.reader.to_rgb(pixels), valid, context)
            label_image = np.where(valid, label_image, LABEL_NODATA).astype(np.uint8)
        core_probs = None
        if self.n_probs:
            core_probs = np.rint(np.clip(probs[rows, cols], 0.0, 1.0) * 255.0).astype(np.uint8)
        return WindowOutput(index, np.ascontiguousarray(label_image[rows, cols]), core_probs, empty)


def segment_raster(source: Path, outputs: list[OutputRaster], segment: SegmentWindow, params: WindowedParams,
                   settings: dict, bands: tuple[int, ...] | None = None, client=None,
                   prepare: Callable | None = None) -> WindowedResult:
    """Segment the raster ``source`` window by window into ``outputs`` (the class map, then the probabilities when
    ``params.probabilities``); ``settings`` (the model and its options) must match on --resume; ``bands``: the
    1-based bands made RGB (default: the first three).

    With a Dask ``client`` (``workflows.distributed``) every window not yet written is a task (``segment`` must
    then be picklable, and load its model once a worker); this process alone writes the outputs, each window as
    its task finishes (in any order: the journal records which are done, so --resume continues from them). The
    pixels written are those of the serial run. ``prepare(reader, shape, client)``, when given, is called once
    before the windows (the client None in a serial run) and returns the ``segment`` to use (work on the whole
    raster a step does first, e.g. as tasks of its own)."""
    with bounded_gdal_cache():
        return _segment_raster(source, outputs, segment, params, settings, bands, client, prepare)


def has_valid_pixel(src, reduced_valid: np.ndarray, block: int = 4096) -> bool:
    """Whether an open raster has any pixel with data: True at once when its reduced read ``reduced_valid`` has
    one, else its masks are read block by block (a raster that is no data almost everywhere)."""
    from rasterio.windows import Window

    if reduced_valid.any():
        return True
    for row in range(0, src.height, block):
        for col in range(0, src.width, block):
            window = Window(col, row, min(block, src.width - col), min(block, src.height - row))
            if (src.read_masks(window=window).min(axis=0) > 0).any():
                return True
    return False


def _window_outputs(task: WindowTask, plan, todo: list[int], client, desc: str, initial: int):
    """(index, WindowOutput) of each window of ``todo``: one after the other here, or as Dask tasks finish."""
    if client is None:
        bar = progress(total=len(plan), initial=initial, desc=desc, unit="window")
        for index in todo:
            yield index, lambda index=index: task(index, plan[index])
            bar.update()
        bar.close()
        return
    from .distributed import map_tasks

    for position, result in map_tasks(client, task, [(index, plan[index]) for index in todo], desc=desc,
                                      unit="window", initial=initial):
        yield todo[position], result


def _segment_raster(source: Path, outputs: list[OutputRaster], segment: SegmentWindow, params: WindowedParams,
                    settings: dict, bands: tuple[int, ...] | None, client, prepare) -> WindowedResult:
    from .folder_runs import ImageUnusable

    params = params.with_halo()
    info = raster_info(source)
    plan = plan_windows((info.height, info.width), params.window, halo=params.halo, edge="mirror")
    with open_raster(source) as src:
        reduced, reduced_valid = reduced_read(src)
        if not has_valid_pixel(src, reduced_valid):
            raise ImageUnusable(f"{source} has no pixel with data (every pixel is its no-data value, NaN or masked)",
                                "check the raster and its no-data value")
        value_range = rgb_value_range(reduced, bands, path=str(source))
        outputs[0].path.parent.mkdir(parents=True, exist_ok=True)
        writer = WindowedGeoTIFFs(outputs, info.geo,
                                  {**settings, **params.settings(), "source": source_digest(source)},
                                  resume=params.resume)
        result = WindowedResult(resumed=len(writer.done), megapixels=info.megapixels, reduced=reduced)
        started = time.perf_counter()
        todo = [index for index in range(len(plan)) if index not in writer.done]
        reader = RasterReader(source, bands, value_range, src if client is None else None)
        shape = (info.height, info.width)
        if prepare is not None and todo:
            segment = prepare(reader, shape, client)
        task = WindowTask(reader, shape, segment, outputs[-1].count if params.probabilities else None)
        previous = time.perf_counter()
        for index, output in _window_outputs(task, plan, todo, client, f"windows of {source.name}",
                                             len(writer.done)):
            output = output()
            writing = time.perf_counter()
            top, left = (part.start for part in plan[index].core_in_extent)
            writer.write(index, top, left, [output.label] + ([output.probs] if params.probabilities else []))
            now = time.perf_counter()
            result.write_seconds += now - writing
            log.debug("window %d of %d (core at row %d, column %d)%s: %.1f s since the previous one was written",
                      index + 1, len(plan), top, left, ", no data" if output.empty else "", now - previous)
            previous = now
            if output.empty:
                result.empty += 1
            else:
                result.windows += 1
                result.segmented.append(index)
    result.outputs = writer.finish(cog=params.cog)
    result.seconds = time.perf_counter() - started
    log.info("%s: %s segmented, %s of no data skipped%s, %.0f megapixels in %.0f s (%.1f s of it writing)",
             source.name, count(result.windows, "window"), count(result.empty, "window"),
             f", {count(result.resumed, 'window')} from the interrupted run" if result.resumed else "",
             result.megapixels, result.seconds, result.write_seconds)
    return result


def segment_large(source: Path, paths: dict[str, Path], labels: list[str], colors: np.ndarray,
                  segment: SegmentWindow, params: WindowedParams, settings: dict,
                  bands: tuple[int, ...] | None = None, client=None,
                  prepare: Callable | None = None) -> WindowedResult:
    """A step's run on one raster larger than ``params.max_megapixels``: ``segment_raster`` into the GeoTIFFs of
    ``paths`` (``output_rasters``), then the preview figure ``paths["preview"]``, saying so in the log (and
    warning when the raster has no georeferencing, which the outputs then lack too); ``client`` and ``prepare`` as
    for ``segment_raster``."""
    from ..io.geotiff import read_geoinfo

    if read_geoinfo(source) is None:
        log.warning("%s has no georeferencing; %s will have none either", source, paths["tif"].name)
    result = segment_raster(source, output_rasters(paths, labels), segment, params, settings, bands, client, prepare)
    result.outputs.append(write_preview(source, paths["tif"], paths["preview"], labels, colors, bands,
                                        result.reduced))
    result.reduced = None
    log.info("%s is %.0f megapixels, above --max-megapixels %g: processed by windows into %s (no .mat or PNG "
             "outputs; the preview %s shows it reduced)", source.name, result.megapixels, params.max_megapixels,
             paths["tif"].name, paths["preview"].name)
    return result


def write_preview(source: Path, label_path: Path, preview: Path, labels: list[str], colors: np.ndarray,
                  bands: tuple[int, ...] | None = None, pixels: np.ndarray | None = None) -> Path:
    """A figure of the raster (its ``bands`` as RGB) and its classes at reduced resolution (``PREVIEW_SIDE``), from
    reduced reads (``pixels``: the raster's, when already read); pixels of no class (255) are black."""
    from ..io.figures import save_figure
    from ..plotting import colorize, panels_figure

    if pixels is None:
        with bounded_gdal_cache(), open_raster(source) as src:
            pixels, _ = reduced_read(src)
    image = to_rgb_uint8(pixels, bands, path=str(source), value_range=rgb_value_range(pixels, bands))
    with open_raster(label_path) as src:
        classes = src.read(1, out_shape=image.shape[:2])
    fig = panels_figure([("image", image), ("classes", colorize(classes, colors))], labels, colors,
                        title=f"{source.name} (reduced to {image.shape[1]} x {image.shape[0]} px)")
    return save_figure(fig, preview)


def params_record(params) -> dict:
    """A params dataclass as a plain dict, for the --resume settings."""
    return {key: value for key, value in asdict(params).items() if key not in ("overwrite", "resume")}
