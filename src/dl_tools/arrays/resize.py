"""Resizing image arrays and class maps (OpenCV), keeping their dtype."""

from __future__ import annotations

import numpy as np


def resize_labels(label_image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w) integer class map to ``shape`` = (H, W); values are never rescaled."""
    import cv2

    label_image = np.asarray(label_image)
    if label_image.shape[:2] == tuple(shape):
        return label_image.copy()
    resized = cv2.resize(
        label_image.astype(np.int32) if label_image.dtype not in (np.uint8, np.uint16, np.int16) else label_image,
        (int(shape[1]), int(shape[0])),
        interpolation=cv2.INTER_NEAREST,
    )
    return resized.astype(label_image.dtype, copy=False)


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area/linear resize of an (H, W, C) image to ``shape`` = (h, w), keeping its dtype."""
    import cv2

    image = np.asarray(image)
    if image.shape[:2] == tuple(shape):
        return image.copy()
    shrinking = shape[0] < image.shape[0]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (int(shape[1]), int(shape[0])), interpolation=interp)


def area_weights(n_source: int, n_target: int, start: int, stop: int) -> tuple[np.ndarray, int]:
    """Rows ``start``..``stop`` of the matrix of an area-averaging resize of an axis of ``n_source`` px to
    ``n_target`` px (``n_target`` <= ``n_source``; OpenCV's INTER_AREA): ((stop - start, m) float64 weights,
    first source index). Target pixel i averages source [i f, (i + 1) f), f = n_source / n_target, each source
    pixel weighted by its overlap; so part of a resize is computed from part of the source, as in the whole."""
    factor = n_source / n_target
    first, last = int(np.floor(start * factor)), min(n_source, int(np.ceil(stop * factor)))
    lo = np.arange(start, stop)[:, None] * factor
    hi = lo + factor
    source = np.arange(first, last)[None, :]
    overlap = np.clip(np.minimum(hi, source + 1) - np.maximum(lo, source), 0.0, None)
    return overlap / factor, first


def linear_weights(n_source: int, n_target: int, start: int, stop: int) -> tuple[np.ndarray, int]:
    """Rows ``start``..``stop`` of the matrix of a bilinear resize of an axis of ``n_source`` px to ``n_target``
    px (OpenCV's INTER_LINEAR: target x samples source (x + 0.5) n_source / n_target - 0.5, clamped at the
    edges): ((stop - start, m) float64 weights, first source index)."""
    position = np.clip((np.arange(start, stop) + 0.5) * (n_source / n_target) - 0.5, 0, n_source - 1)
    left = np.minimum(np.floor(position).astype(np.int64), n_source - 1)
    right = np.minimum(left + 1, n_source - 1)
    first = int(left.min())
    weights = np.zeros((stop - start, int(right.max()) - first + 1))
    rows = np.arange(stop - start)
    np.add.at(weights, (rows, left - first), 1.0 - (position - left))
    np.add.at(weights, (rows, right - first), position - left)
    return weights, first


def resize_part(array: np.ndarray, rows: tuple[np.ndarray, int], cols: tuple[np.ndarray, int]) -> np.ndarray:
    """Apply separable resize weights (``area_weights`` / ``linear_weights``) to an (h, w, C) array whose first
    row and column are the weights' first source indices -> (rows, cols, C) float32 (sparse products: a few
    source pixels per target pixel)."""
    from scipy import sparse

    row_weights, col_weights = sparse.csr_matrix(rows[0]), sparse.csr_matrix(cols[0])
    values = np.asarray(array, dtype=np.float64)[:row_weights.shape[1], :col_weights.shape[1]]
    height, width, depth = values.shape
    along_rows = (row_weights @ values.reshape(height, width * depth)).reshape(-1, width, depth)
    along_cols = col_weights @ np.moveaxis(along_rows, 1, 0).reshape(width, -1)
    return np.moveaxis(along_cols.reshape(-1, along_rows.shape[0], depth), 0, 1).astype(np.float32)
