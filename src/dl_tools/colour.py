"""Per-image colour standardisation (pure numpy).

Photographs of the same coast from different flights differ in exposure and colour cast; a network trained on some
of them then reads the same sand differently in others. Standardising each image's channels to a common mean and
spread removes those global differences while keeping every contrast inside the image (wet sand stays darker than
the dry sand beside it).
"""

from __future__ import annotations

import numpy as np

#: target mean and standard deviation of each channel, in 0-255 grey levels
STANDARD_MEAN = 128.0
STANDARD_SPREAD = 48.0


def standardise_channels(images: np.ndarray) -> np.ndarray:
    """(H, W, C) or (n, H, W, C) image(s) -> uint8 of the same shape, each channel of each image shifted and scaled
    to mean ``STANDARD_MEAN`` and standard deviation ``STANDARD_SPREAD`` grey levels, then clipped to 0-255.

    Statistics are taken per image over all its pixels; a flat channel (deviation 0) becomes ``STANDARD_MEAN``.
    """
    values = np.asarray(images, dtype=np.float32)
    if values.ndim not in (3, 4):
        raise ValueError(f"expected (H, W, C) or (n, H, W, C) images, got shape {values.shape}")
    mean = values.mean(axis=(-3, -2), keepdims=True)
    spread = values.std(axis=(-3, -2), keepdims=True)
    scaled = (values - mean) * (STANDARD_SPREAD / np.maximum(spread, 1e-6)) + STANDARD_MEAN
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
