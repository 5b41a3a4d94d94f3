"""Colour of image arrays (pure numpy): any array a user's file holds -> (H, W, 3) uint8 RGB
(``to_rgb_uint8``), and per-image colour standardisation (``standardise_channels``).

Conversion rules of ``to_rgb_uint8``, applied to the bands picked by ``bands`` (1-based, default the first three):

- uint8: unchanged.
- bool: False -> 0, True -> 255.
- other integers (16-bit, 32-bit) whose values already lie in 0-255: cast unchanged.
- float whose values lie in [0, 1]: multiplied by 255.
- anything else (16-bit, 32-bit, float): a linear stretch from the 1st to the 99th percentile of all chosen
  bands together (so colour balance is kept), clipped to 0-255. Never a wrap-around cast. NaN become 0.
- one band (grey): replicated to three channels; two bands: the first, replicated.
- RGBA: alpha dropped. More than three bands: the first three, unless ``bands`` picks others.

Standardisation:

Photographs of the same coast from different flights differ in exposure and colour cast; a network trained on some
of them then reads the same sand differently in others. Standardising each image's channels to a common mean and
spread removes those global differences while keeping every contrast inside the image (wet sand stays darker than
the dry sand beside it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError

#: percentiles of the linear stretch of ``to_rgb_uint8``
STRETCH_PERCENTILES = (1.0, 99.0)

#: target mean and standard deviation of each channel, in 0-255 grey levels
STANDARD_MEAN = 128.0
STANDARD_SPREAD = 48.0


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C,) float64 sum and (C,) float64 sum of squares of each channel over all pixels of (..., C) ``images``:
    statistics that add up over the windows of a raster (``stats_from_sums``)."""
    values = np.asarray(images, dtype=np.float64).reshape(-1, np.shape(images)[-1])
    return values.sum(axis=0), np.square(values).sum(axis=0)


def stats_from_sums(total: np.ndarray, squares: np.ndarray, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard deviation), (C,) each, of channels whose sums over ``n_pixels`` pixels are given."""
    mean = total / n_pixels
    return mean, np.sqrt(np.maximum(squares / n_pixels - mean**2, 0.0))


def standardise_channels(images: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(H, W, C) or (n, H, W, C) image(s) -> uint8 of the same shape, each channel of each image shifted and scaled
    to mean ``STANDARD_MEAN`` and standard deviation ``STANDARD_SPREAD`` grey levels, then clipped to 0-255.

    Statistics are taken per image over all its pixels, or given as ``stats`` = ((C,) mean, (C,) deviation) (those
    of a whole raster, for its windows); a flat channel (deviation 0) becomes ``STANDARD_MEAN``.
    """
    values = np.asarray(images, dtype=np.float32)
    if values.ndim not in (3, 4):
        raise ValueError(f"expected (H, W, C) or (n, H, W, C) images, got shape {values.shape}")
    if stats is None:  # in float64: float32 sums over millions of pixels are off by a fraction of a grey level
        per_image = [stats_from_sums(*channel_stats(image), image[..., 0].size)
                     for image in values.reshape((-1,) + values.shape[-3:])]
        shape = values.shape[:-3] + (1, 1, values.shape[-1])
        mean = np.stack([m for m, _ in per_image]).reshape(shape)
        spread = np.stack([d for _, d in per_image]).reshape(shape)
    else:
        mean, spread = stats
    mean, spread = np.asarray(mean, dtype=np.float32), np.asarray(spread, dtype=np.float32)
    scaled = (values - mean) * (STANDARD_SPREAD / np.maximum(spread, 1e-6)) + STANDARD_MEAN
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _select_bands(array: np.ndarray, bands: Sequence[int] | None, path) -> np.ndarray:
    """(H, W, B) array -> (H, W, 3) array of the chosen bands (1-based indices)."""
    n_bands = array.shape[2]
    if bands is None:
        if n_bands >= 3:
            return array[:, :, :3]
        return np.repeat(array[:, :, :1], 3, axis=2)
    bands = list(bands)
    if len(bands) not in (1, 3) or not all(1 <= b <= n_bands for b in bands):
        raise InputError(
            f"--bands {','.join(map(str, bands))} does not fit {path}, which has {n_bands} bands; "
            f"give one or three band numbers between 1 and {n_bands}, e.g. --bands 3,2,1"
        )
    chosen = array[:, :, [b - 1 for b in bands]]
    return np.repeat(chosen, 3, axis=2) if len(bands) == 1 else chosen


def _as_bands(array: np.ndarray, bands: Sequence[int] | None, path: str) -> np.ndarray:
    """(H, W) or (H, W, B) array -> (H, W, 3) array of the chosen bands (bool as 0/255)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{path} has shape {array.shape}, not an image; give a 2-D image file")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return _select_bands(array, bands, path)


def rgb_value_range(array: np.ndarray, bands: Sequence[int] | None = None, path: str = "image") -> tuple[float, float]:
    """The (lo, hi) values of ``array`` (as ``to_rgb_uint8`` takes it) that the rules of the module doc map to 0 and
    255: (0, 255) for uint8 and for integers within 0-255, (0, 1) for floats within [0, 1], else the 1st and 99th
    percentiles of the finite values of the chosen bands. A raster read window by window takes its range once,
    from a reduced read of the whole raster, so that every window is converted alike."""
    array = _as_bands(array, bands, path)
    if array.dtype == np.uint8:
        return 0.0, 255.0
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return 0.0, 255.0
    lo, hi = float(values[finite].min()), float(values[finite].max())
    if np.issubdtype(array.dtype, np.integer) and lo >= 0 and hi <= 255:
        return 0.0, 255.0
    if np.issubdtype(array.dtype, np.floating) and lo >= 0 and hi <= 1:
        return 0.0, 1.0
    p_lo, p_hi = (float(v) for v in np.percentile(values[finite], STRETCH_PERCENTILES))
    return (p_lo, p_hi) if p_hi > p_lo else (lo, max(hi, lo + 1e-12))


def to_rgb_uint8(array: np.ndarray, bands: Sequence[int] | None = None, path: str = "image",
                 value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Convert an (H, W) or (H, W, B) array of any dtype to (H, W, 3) uint8 by the rules in the module doc: values
    ``value_range`` (default: ``rgb_value_range`` of this array) map linearly to 0-255, clipped; NaN become 0."""
    array = _as_bands(array, bands, path)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    lo, hi = value_range if value_range is not None else rgb_value_range(array)
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    scaled = np.where(finite, (values - lo) * (255.0 / (hi - lo)), 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
