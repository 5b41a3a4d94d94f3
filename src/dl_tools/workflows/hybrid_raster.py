"""Step 6 on a raster larger than memory: the hybrid method window by window (``workflows.windowed``).

The tiles are those of a whole-image run (``segmentation.hybrid.tile_plan`` over the whole raster: the same grid,
the same DECIM selection). They are classified in fixed chunks: runs of at most BATCH_SIZE tiles of one row of
tiles, one classifier call a chunk, so that a tile's class and probability never depend on which tiles it was
classified with, nor on the order of the windows or the number of Dask workers. In a serial run a chunk is
classified when the first window reaches one of its tiles, and its classes and probabilities are kept (12 bytes a
tile: 2 MB for a 1.6-gigapixel raster of 96 px tiles), so a tile in two windows' halos is classified once. On Dask,
the chunks are classified first, as tasks of several chunks each (a chunk without any pixel of data is left for a
window that reaches it to classify, as the serial run would); the windows then get every chunk's result with the
task function, sent once to each worker. Each window's tile map is painted from the tiles that reach it, and the
dense CRF runs on the window with its halo (``segmentation.hybrid.refine``); only the core is kept. The CRF's
kernels reach further than any window, so the result differs from a whole-image run near window borders;
docs/benchmarks.md gives the share of pixels that agree on a mosaic that fits in memory.

A window in which no tile reached PROB_THRES gets its tiles' top classes whatever their probability (the log says
how many windows), where a whole-image run would take the classes of tiles further away.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..segmentation.hybrid import HybridParams, classify, refine, tile_plan
from .windowed import WindowedParams, params_record, segment_large

log = logging.getLogger(__name__)

#: chunks of tiles classified by one Dask task of the first pass
CHUNKS_PER_TASK = 16


class RasterTiles:
    """The tiles of a whole-raster hybrid run over an (H, W) raster, classified on demand, a chunk at a time (see
    the module doc), each once.

    tile_class : (K,) int64 top class of each tile of ``plan``, -1 until classified.
    tile_prob  : (K,) float32 its probability.
    chunk_of   : (K,) int64 the chunk of each tile; ``chunk_starts``: (C + 1,) the first tile of each chunk, and K.
    known      : (tile_class, tile_prob) classified earlier (e.g. by Dask tasks), copied; None: none yet.
    """

    def __init__(self, shape: tuple[int, int], classifier, params: HybridParams, known=None):
        from ..arrays.tiling import row_chunks

        self.plan = tile_plan(shape, params.tile, params.decim)
        self.classifier, self.params = classifier, params
        n = len(self.plan)
        self.chunk_of, self.chunk_starts = row_chunks(self.plan.tops, params.batch_size)
        if known is None:
            self.tile_class = np.full(n, -1, dtype=np.int64)
            self.tile_prob = np.zeros(n, dtype=np.float32)
        else:
            self.tile_class, self.tile_prob = np.array(known[0], np.int64), np.array(known[1], np.float32)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_starts) - 1

    def reaching(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        """(k,) int64 indices of the tiles whose core (their part inside the raster) overlaps the region."""
        cores = self.plan.cores
        return np.flatnonzero((cores[:, 0] < top + height) & (cores[:, 1] > top)
                              & (cores[:, 2] < left + width) & (cores[:, 3] > left))

    def chunk_region(self, chunk: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the part of the raster under the tiles of ``chunk`` (may stick out)."""
        tiles = self.plan[self.chunk_starts[chunk]:self.chunk_starts[chunk + 1]]
        top, left, bottom, right = tiles.bounds()
        return top, left, bottom - top, right - left

    def classify_chunk(self, chunk: int, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((k,) int64 classes, (k,) float32 probabilities) of the tiles of ``chunk``, cut from ``pixels``: the
        (h, w, 3) uint8 RGB of its ``chunk_region``."""
        from ..arrays.tiling import cut_windows

        tiles = self.plan[self.chunk_starts[chunk]:self.chunk_starts[chunk + 1]]
        top, left, height, width = self.chunk_region(chunk)
        return classify(cut_windows(pixels, tiles.in_region(top, left, (height, width))), self.classifier,
                        self.params)

    def classify(self, read, indices: np.ndarray) -> None:
        """Classify the chunks of the tiles ``indices`` not yet classified, each cut from one read of the raster
        under it (``read``: ``WindowContext.read``, mirrored about the raster's edge where a tile sticks out)."""
        todo = indices[self.tile_class[indices] < 0]
        for chunk in np.unique(self.chunk_of[todo]):
            first, stop = self.chunk_starts[chunk], self.chunk_starts[chunk + 1]
            self.tile_class[first:stop], self.tile_prob[first:stop] = self.classify_chunk(
                chunk, read(*self.chunk_region(chunk)))

    def kept(self, reach: np.ndarray) -> np.ndarray:
        """The tiles of ``reach`` at or above PROB_THRES (an empty array when none is)."""
        return reach[self.tile_prob[reach] >= self.params.prob_thres]

    def tile_map(self, read, top: int, left: int, height: int, width: int) -> np.ndarray:
        """(height, width) uint8 tile map of the raster region with top-left pixel (``top``, ``left``), inside the
        raster: 1 + class of each kept tile over its core, 0 elsewhere (``segmentation.hybrid.tile_map``); when no
        tile reaching the region is kept, all of them are."""
        reach = self.reaching(top, left, height, width)
        self.classify(read, reach)
        kept = self.kept(reach)
        if not len(kept):
            kept = reach
        out = np.zeros((height, width), dtype=np.uint8)
        for index in kept:
            t, b, lo, r = (int(v) for v in self.plan.cores[index])
            out[max(t, top) - top:min(b, top + height) - top, max(lo, left) - left:min(r, left + width) - left] = \
                self.tile_class[index] + 1
        return out


class _TileChunks:
    """A Dask task of the first pass: classify chunks ``first`` to ``stop`` (excluded) of the raster's tiles;
    returns [(chunk, classes, probabilities)] of those with any pixel of data. segmenter: what gives the
    classifier (``hybrid._Segmenter``: the model loaded once a worker); reader: a ``windowed.RasterReader``."""

    def __init__(self, segmenter, shape: tuple[int, int], params: HybridParams, reader):
        self.segmenter, self.shape, self.params, self.reader = segmenter, tuple(shape), params, reader

    @property
    def inputs(self) -> tuple[Path, ...]:
        return (self.reader.source,)

    def __call__(self, first: int, stop: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        tiles = RasterTiles(self.shape, self.segmenter.classifier(), self.params)
        done = []
        for chunk in range(first, stop):
            pixels, valid = self.reader.window(*tiles.chunk_region(chunk))
            if valid.any():
                done.append((chunk, *tiles.classify_chunk(chunk, self.reader.to_rgb(pixels))))
        return done


def classify_chunks(segmenter, shape: tuple[int, int], params: HybridParams, reader, client) -> RasterTiles:
    """The RasterTiles of the raster with every chunk holding data classified, as Dask tasks on ``client``
    (``CHUNKS_PER_TASK`` chunks a task); the classifier of the returned object is None (not needed here)."""
    from .distributed import map_tasks

    tiles = RasterTiles(shape, None, params)
    items = [(first, min(first + CHUNKS_PER_TASK, tiles.n_chunks))
             for first in range(0, tiles.n_chunks, CHUNKS_PER_TASK)]
    task = _TileChunks(segmenter, shape, params, reader)
    for _, result in map_tasks(client, task, items, desc="tiles", unit="task"):
        for chunk, classes, probs in result():
            first, stop = tiles.chunk_starts[chunk], tiles.chunk_starts[chunk + 1]
            tiles.tile_class[first:stop], tiles.tile_prob[first:stop] = classes, probs
    return tiles


class _HybridWindows:
    """The hybrid method on one window of a large raster: the ``segment`` of ``windowed.segment_raster``,
    picklable for Dask. segmenter: what gives the classifier (``hybrid._Segmenter``); known: the (classes,
    probabilities) of the tiles classified before the windows (None: each chunk when first reached)."""

    def __init__(self, segmenter, shape: tuple[int, int], n_classes: int, params: HybridParams,
                 probabilities: bool, known=None):
        self.segmenter, self.shape, self.n_classes, self.params = segmenter, tuple(shape), n_classes, params
        self.probabilities, self.known = probabilities, known
        self.tiles: RasterTiles | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "tiles": None}

    def __call__(self, image: np.ndarray, valid: np.ndarray, context) -> tuple[np.ndarray, np.ndarray | None]:
        from ..arrays.resize import resize_image

        if self.tiles is None:
            self.tiles = RasterTiles(self.shape, self.segmenter.classifier(), self.params, self.known)
        height, width = image.shape[:2]
        top, left, bottom, right = context.inside(height, width)
        tile_map = self.tiles.tile_map(context.read, top, left, bottom - top, right - left)
        label_image, marginals = refine(image, context.mirrored(tile_map, height, width), self.n_classes,
                                        self.params)
        return label_image, resize_image(marginals, (height, width)) if self.probabilities else None


def check_windows(params: HybridParams, windowed: WindowedParams) -> None:
    """InputError when DECIM spaces the tiles further apart than a window with its halo is wide (some windows
    would hold no tile)."""
    spacing, reach = params.decim * params.tile, windowed.window + 2 * windowed.halo
    if spacing > reach:
        raise InputError(f"DECIM {params.decim} x TILE {params.tile} spaces tiles {spacing} px apart, more than a "
                         f"window with its halo ({reach} px): lower DECIM or give a larger --window or --halo")


def unsure_windows(tiles: RasterTiles, windowed: WindowedParams, segmented: list[int]) -> int:
    """How many of the windows ``segmented`` (plan indices) no tile reaching PROB_THRES reaches."""
    from ..arrays.tiling import plan_windows

    plan = plan_windows(tiles.plan.shape, windowed.window, halo=windowed.halo, edge="mirror")
    unsure = 0
    for index in segmented:
        window = plan[index]
        (rows, cols), _ = window.overlap(tiles.plan.shape)
        reach = tiles.reaching(window.row + rows.start, window.col + cols.start, rows.stop - rows.start,
                               cols.stop - cols.start)
        unsure += not len(tiles.kept(reach))
    return unsure


def segment_raster_by_windows(image_path: Path, segmenter, model_id: str, labels: list[str], colors: np.ndarray,
                              params: HybridParams, windowed: WindowedParams, paths: dict[str, Path],
                              client=None) -> tuple[int, int]:
    """Segment the raster ``image_path`` window by window into the GeoTIFFs of ``paths`` (``tif``, and
    ``probabilities``: the CRF's marginals) and the preview figure ``paths["preview"]``; ``segmenter`` gives the
    classifier (``segmenter.classifier()``; picklable for Dask: ``hybrid._Segmenter``); ``model_id`` names the
    model, for --resume. With a Dask ``client`` the chunks of tiles, then the windows, are tasks, and this process
    writes the outputs. Returns (tiles classified, tiles at or above PROB_THRES) in this run (on Dask: in the first
    pass, which leaves out chunks without data)."""
    n_classes = len(labels)
    state = {}

    def prepare(reader, shape, client) -> _HybridWindows:
        known = None
        if client is not None:
            tiles = state["tiles"] = classify_chunks(segmenter, shape, params, reader, client)
            known = (tiles.tile_class, tiles.tile_prob)
        state["segment"] = _HybridWindows(segmenter, shape, n_classes, params, windowed.probabilities, known)
        return state["segment"]

    settings = {"model": model_id, "labels": list(labels), "hybrid": params_record(params)}
    result = segment_large(image_path, paths, labels, colors, None, windowed, settings, client=client,
                           prepare=prepare)
    tiles = state.get("tiles") or (state["segment"].tiles if "segment" in state else None)
    if tiles is None:  # every window written by the interrupted run, or of no data
        return 0, 0
    unsure = unsure_windows(tiles, windowed, result.segmented)
    if unsure:
        log.warning("%s: in %d windows no tile reached PROB_THRES %g; their tiles' top classes were used whatever "
                    "their probability", image_path.name, unsure, params.prob_thres)
    classified = tiles.tile_class >= 0
    return int(classified.sum()), int((classified & (tiles.tile_prob >= params.prob_thres)).sum())
