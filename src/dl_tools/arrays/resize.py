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
    """Area/linear resize of an (H, W, C) image to ``shape`` = (h, w), keeping its dtype; any number of channels
    (OpenCV's area resize takes at most 4 at once: more are resized 4 at a time)."""
    import cv2

    image = np.asarray(image)
    if image.shape[:2] == tuple(shape):
        return image.copy()
    shrinking = shape[0] < image.shape[0]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    size = (int(shape[1]), int(shape[0]))
    if image.ndim == 3 and image.shape[2] > 4:
        return np.concatenate([cv2.resize(image[:, :, i:i + 4], size, interpolation=interp).reshape(
            size[::-1] + (-1,)) for i in range(0, image.shape[2], 4)], axis=2)
    return cv2.resize(image, size, interpolation=interp)


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
    row and column are the weights' first source indices -> (rows, cols, C) float32.

    Each target pixel mixes a few source pixels (2 for a bilinear resize, about ceil(factor) + 1 for an area
    average), so each axis is resized by gathering those few columns (then rows) and summing them weighted, in
    float32: far cheaper than a matrix product over the whole axis. Columns first in float32, as OpenCV's
    ``cv2.resize`` does, so a part equals the same part of ``cv2.resize`` of the whole (tests/test_resize.py)."""
    array = np.asarray(array)
    array = array[:rows[0].shape[1], :cols[0].shape[1]]
    return _resize_axis(_resize_axis(array, cols[0], axis=1), rows[0], axis=0)


def _resize_axis(array: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """Resize ``array`` along ``axis`` (0 or 1) with (n_target, n_source) ``weights`` -> float32, the other axes
    unchanged: target i = sum over k of weights[i, taps[i, k]] * array[taps[i, k]], taps the columns of row i
    that are not zero (padded with a zero weight)."""
    nonzero = weights != 0
    n_taps = max(1, int(nonzero.sum(axis=1).max()))
    # each row's non-zero columns first, in source order (a stable sort of "is zero")
    taps = np.argsort(~nonzero, axis=1, kind="stable")[:, :n_taps]
    tap_weights = np.take_along_axis(weights, taps, axis=1).astype(np.float32)
    shape = [1] * array.ndim
    shape[axis] = weights.shape[0]
    out = np.zeros(array.shape[:axis] + (weights.shape[0],) + array.shape[axis + 1:], np.float32)
    for k in range(n_taps):
        out += tap_weights[:, k].reshape(shape) * np.take(array, taps[:, k], axis=axis)
    return out


def area_resized_to_uint8(values: np.ndarray, source_shape: tuple[int, int],
                          target_shape: tuple[int, int]) -> np.ndarray:
    """(h, w, C) float area averages (``resize_part`` with ``area_weights``) of a uint8 image resized from
    ``source_shape`` to ``target_shape`` -> uint8, rounded as ``cv2.resize(..., INTER_AREA)`` rounds them: halves up
    when both factors are whole numbers (OpenCV's integer path), else to the nearest even value."""
    whole = all(source % target == 0 for source, target in zip(source_shape, target_shape))
    rounded = np.floor(values + 0.5) if whole else np.rint(values)
    return np.clip(rounded, 0, 255).astype(np.uint8)
