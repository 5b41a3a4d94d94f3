"""Overlapping tiles with smooth blending, for running a fixed-size network on an image of any size (pure numpy).

An image smaller than the tile is padded (mirrored) to the tile size; a larger one is covered by tiles that overlap
by a given fraction. Each tile's prediction is weighted by a window that is highest at the tile centre and small at
its borders (where the network sees the least context), and the weighted predictions are averaged per pixel.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` pixels with at least ``overlap`` (fraction in
    [0, 1)) of a tile shared between neighbours; the last tile ends exactly at ``length``. Requires length >= tile."""
    if length <= tile:
        return [0]
    stride = max(1, int(tile * (1.0 - overlap)))
    n_tiles = int(np.ceil((length - tile) / stride)) + 1
    return [int(round(i * (length - tile) / (n_tiles - 1))) for i in range(n_tiles)]


def blend_window(shape: tuple[int, int], floor: float = 0.05) -> np.ndarray:
    """(h, w) float32 weights: a separable triangle from ``floor`` at the borders to 1 at the centre."""
    def ramp(n):
        position = (np.arange(n) + 0.5) / n
        return floor + (1.0 - floor) * (1.0 - np.abs(2.0 * position - 1.0))

    return np.outer(ramp(shape[0]), ramp(shape[1])).astype(np.float32)


def predict_tiled(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], tile_shape: tuple[int, int],
                  overlap: float = 0.25, batch_size: int = 4, progress=None) -> np.ndarray:
    """Per-pixel class probabilities of an image of any size from a network of fixed input size.

    image      : (H, W, 3) array (any dtype the network takes).
    predict    : (B, h, w, 3) float32 -> (B, h, w, N) probabilities, with (h, w) = ``tile_shape``.
    overlap    : fraction of a tile shared with its neighbour, in [0, 1).
    progress   : optional callable(n_tiles_done) called after each batch.
    Returns (H, W, N) float32; where tiles overlap, their probabilities are averaged with ``blend_window`` weights.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    height, width = image.shape[:2]
    tile_h, tile_w = tile_shape
    pad_h, pad_w = max(0, tile_h - height), max(0, tile_w - width)
    padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric") if pad_h or pad_w else image
    origins = [(top, left) for top in tile_starts(padded.shape[0], tile_h, overlap)
               for left in tile_starts(padded.shape[1], tile_w, overlap)]
    window = blend_window(tile_shape)[:, :, None]
    total = None
    weight = np.zeros(padded.shape[:2] + (1,), dtype=np.float32)
    for first in range(0, len(origins), batch_size):
        batch = origins[first:first + batch_size]
        tiles = np.stack([padded[t:t + tile_h, l:l + tile_w] for t, l in batch]).astype(np.float32)
        probs = np.asarray(predict(tiles), dtype=np.float32)
        if total is None:
            total = np.zeros(padded.shape[:2] + (probs.shape[-1],), dtype=np.float32)
        for (top, left), tile_probs in zip(batch, probs):
            total[top:top + tile_h, left:left + tile_w] += window * tile_probs
            weight[top:top + tile_h, left:left + tile_w] += window
        if progress is not None:
            progress(len(batch))
    return (total / weight)[:height, :width]
