"""Step 6 on a raster larger than memory: the hybrid method window by window (``workflows.windowed``).

The tiles are those of a whole-image run (``segmentation.hybrid.tile_plan`` over the whole raster: the same grid,
the same DECIM selection). A tile is classified when the first window reaches it, and its class and probability
are kept (12 bytes a tile: 2 MB for a 1.6-gigapixel raster of 96 px tiles), so a tile in two windows' halos is
classified once. Each window's tile map is painted from the tiles that reach it, and the dense CRF runs on the
window with its halo (``segmentation.hybrid.refine``); only the core is kept. The CRF's kernels reach further than
any window, so the result differs from a whole-image run near window borders; docs/benchmarks.md gives the share
of pixels that agree on a mosaic that fits in memory.

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


class RasterTiles:
    """The tiles of a whole-raster hybrid run over an (H, W) raster, classified on demand, each once.

    tile_class : (K,) int64 top class of each tile of ``plan``, -1 until classified.
    tile_prob  : (K,) float32 its probability.
    """

    def __init__(self, shape: tuple[int, int], classifier, params: HybridParams):
        self.plan = tile_plan(shape, params.tile, params.decim)
        self.classifier, self.params = classifier, params
        self.tile_class = np.full(len(self.plan), -1, dtype=np.int64)
        self.tile_prob = np.zeros(len(self.plan), dtype=np.float32)
        self.unsure_windows = 0

    def reaching(self, top: int, left: int, height: int, width: int) -> np.ndarray:
        """(k,) int64 indices of the tiles whose core (their part inside the raster) overlaps the region."""
        cores = self.plan.cores
        return np.flatnonzero((cores[:, 0] < top + height) & (cores[:, 1] > top)
                              & (cores[:, 2] < left + width) & (cores[:, 3] > left))

    def classify(self, read, indices: np.ndarray) -> None:
        """Classify the tiles ``indices`` not yet classified, cut from one read of the raster under them
        (``read``: ``WindowContext.read``, mirrored about the raster's edge where a tile sticks out)."""
        todo = indices[self.tile_class[indices] < 0]
        if not len(todo):
            return
        from ..arrays.tiling import cut_windows

        tiles = self.plan[todo]
        top, left, bottom, right = tiles.bounds()
        pixels = read(top, left, bottom - top, right - left)
        local = tiles.in_region(top, left, (bottom - top, right - left))
        self.tile_class[todo], self.tile_prob[todo] = classify(cut_windows(pixels, local), self.classifier,
                                                               self.params)

    def tile_map(self, read, top: int, left: int, height: int, width: int) -> np.ndarray:
        """(height, width) uint8 tile map of the raster region with top-left pixel (``top``, ``left``), inside the
        raster: 1 + class of each kept tile over its core, 0 elsewhere (``segmentation.hybrid.tile_map``)."""
        reach = self.reaching(top, left, height, width)
        self.classify(read, reach)
        kept = reach[self.tile_prob[reach] >= self.params.prob_thres]
        if not len(kept):
            self.unsure_windows += 1
            kept = reach
        out = np.zeros((height, width), dtype=np.uint8)
        for index in kept:
            t, b, lo, r = (int(v) for v in self.plan.cores[index])
            out[max(t, top) - top:min(b, top + height) - top, max(lo, left) - left:min(r, left + width) - left] = \
                self.tile_class[index] + 1
        return out


def check_windows(params: HybridParams, windowed: WindowedParams) -> None:
    """InputError when DECIM spaces the tiles further apart than a window with its halo is wide (some windows
    would hold no tile)."""
    spacing, reach = params.decim * params.tile, windowed.window + 2 * windowed.halo
    if spacing > reach:
        raise InputError(f"DECIM {params.decim} x TILE {params.tile} spaces tiles {spacing} px apart, more than a "
                         f"window with its halo ({reach} px): lower DECIM or give a larger --window or --halo")


def segment_raster_by_windows(image_path: Path, classifier, model_id: str, labels: list[str], colors: np.ndarray,
                  params: HybridParams, windowed: WindowedParams, paths: dict[str, Path]) -> tuple[int, int]:
    """Segment the raster ``image_path`` window by window into the GeoTIFFs of ``paths`` (``tif``, and
    ``probabilities``: the CRF's marginals) and the preview figure ``paths["preview"]``; ``model_id`` names the
    model, for --resume. Returns (tiles classified, tiles at or above PROB_THRES) in this run."""
    from ..arrays.resize import resize_image
    n_classes = len(labels)
    tiles = None

    def segment(image: np.ndarray, valid: np.ndarray, context) -> tuple[np.ndarray, np.ndarray | None]:
        nonlocal tiles
        tiles = tiles or RasterTiles(context.shape, classifier, params)
        height, width = image.shape[:2]
        top, left, bottom, right = context.inside(height, width)
        sparse = context.mirrored(tiles.tile_map(context.read, top, left, bottom - top, right - left), height, width)
        label_image, marginals = refine(image, sparse, n_classes, params)
        return label_image, resize_image(marginals, (height, width)) if windowed.probabilities else None

    settings = {"model": model_id, "labels": list(labels), "hybrid": params_record(params)}
    segment_large(image_path, paths, labels, colors, segment, windowed, settings)
    if tiles is None:  # every window written by the interrupted run, or of no data
        return 0, 0
    if tiles.unsure_windows:
        log.warning("%s: in %d windows no tile reached PROB_THRES %g; their tiles' top classes were used whatever "
                    "their probability", image_path.name, tiles.unsure_windows, params.prob_thres)
    classified = tiles.tile_class >= 0
    return int(classified.sum()), int((classified & (tiles.tile_prob >= params.prob_thres)).sum())
