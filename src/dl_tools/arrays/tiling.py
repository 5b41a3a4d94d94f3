"""Tile grids, tile purity and stitching (pure numpy).

A tile is a ``tile`` x ``tile`` window given by the (row, col) pixel position of its top-left corner (its origin).
Grids never pad: only windows that lie wholly inside the image are used.
"""

from __future__ import annotations

import numpy as np


def tile_origins(shape: tuple[int, int], tile: int, stride: int) -> np.ndarray:
    """(n, 2) int64 (row, col) origins of all ``tile`` x ``tile`` windows at ``stride`` px inside an (H, W) image,
    row-major. Empty when the image is smaller than one tile."""
    if tile <= 0 or stride <= 0:
        raise ValueError(f"tile and stride must be positive, got {tile} and {stride}")
    height, width = shape[:2]
    rows = np.arange(0, height - tile + 1, stride)
    cols = np.arange(0, width - tile + 1, stride)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    return grid.reshape(-1, 2).astype(np.int64)


def class_counts(label_image: np.ndarray, origins: np.ndarray, tile: int, n_classes: int) -> np.ndarray:
    """(n, N) int64 number of pixels of each class in each tile of an (H, W) 0-based ``label_image``.

    Uses one summed-area table per class, so the cost does not grow with the tile size.
    """
    label_image = np.asarray(label_image)
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    counts = np.empty((len(origins), n_classes), dtype=np.int64)
    r0, c0 = origins[:, 0], origins[:, 1]
    r1, c1 = r0 + tile, c0 + tile
    for k in range(n_classes):
        table = np.zeros((label_image.shape[0] + 1, label_image.shape[1] + 1), dtype=np.int64)
        table[1:, 1:] = np.cumsum(np.cumsum(label_image == k, axis=0), axis=1)
        counts[:, k] = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
    return counts


def tile_purity(label_image: np.ndarray, origins: np.ndarray, tile: int, n_classes: int):
    """Majority class and its share for each tile.

    Returns (mode (n,) int64 0-based class index, share (n,) float64 in [0, 1] = pixels of the mode / tile**2).
    Ties go to the lower class index.
    """
    counts = class_counts(label_image, origins, tile, n_classes)
    mode = counts.argmax(axis=1) if len(counts) else np.zeros(0, dtype=np.int64)
    share = counts[np.arange(len(counts)), mode] / float(tile * tile)
    return mode.astype(np.int64), share


def cut_tiles(image: np.ndarray, origins: np.ndarray, tile: int) -> np.ndarray:
    """(n, tile, tile, C) copies of the windows of an (H, W, C) ``image`` at ``origins``."""
    image = np.asarray(image)
    out = np.empty((len(origins), tile, tile) + image.shape[2:], dtype=image.dtype)
    for i, (row, col) in enumerate(np.asarray(origins, dtype=np.int64).reshape(-1, 2)):
        out[i] = image[row:row + tile, col:col + tile]
    return out


def stitch(values: np.ndarray, origins: np.ndarray, tile: int, shape: tuple[int, int]):
    """Spread per-tile values over the image and average where tiles overlap.

    values : (n, K) float, one vector per tile (e.g. class probabilities), or (n, tile, tile, K) per pixel.
    Returns (mean (H, W, K) float32, coverage (H, W) int32 = number of tiles over each pixel); pixels covered by
    no tile have mean 0.
    """
    values = np.asarray(values, dtype=np.float32)
    height, width = shape[:2]
    depth = values.shape[-1]
    total = np.zeros((height, width, depth), dtype=np.float32)
    coverage = np.zeros((height, width), dtype=np.int32)
    for value, (row, col) in zip(values, np.asarray(origins, dtype=np.int64).reshape(-1, 2)):
        total[row:row + tile, col:col + tile] += value
        coverage[row:row + tile, col:col + tile] += 1
    np.divide(total, coverage[..., None], out=total, where=coverage[..., None] > 0)
    return total, coverage
