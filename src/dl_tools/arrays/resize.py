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
