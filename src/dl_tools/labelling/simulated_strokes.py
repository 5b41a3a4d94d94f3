"""Simulated brush strokes: sparse labels drawn from a dense label image, for demos, tests and benchmarks.

A person labelling an image draws a few short strokes inside each region. ``simulate_strokes`` imitates that:
short random walks of a given brush width, started inside each connected region of each class and kept inside
that class, until about ``coverage`` of the pixels are marked. ``region_strokes`` and ``correction_stroke`` imitate
a person correcting a result round by round (benchmarks/bench_strokes.py): one short stroke per region first, then
one stroke inside the largest region still wrong.
"""

from __future__ import annotations

import numpy as np


def simulate_strokes(label_image: np.ndarray, coverage: float = 0.015, brush: int = 5, stroke_length: int = 60,
                     min_region: int = 200, seed: int = 0) -> np.ndarray:
    """Sparse strokes from a dense label map.

    label_image : (H, W) integer class map, 0-based.
    coverage    : wanted fraction of stroke pixels (about; at least one stroke per region is drawn).
    brush       : brush diameter in pixels.
    stroke_length : steps of each random walk (pixels along the stroke).
    min_region  : connected regions smaller than this (pixels) get no stroke.
    Returns (H, W) uint8 sparse map: 0 = no stroke, k = class k-1 (the legacy ``sparse`` convention).
    """
    import cv2
    from skimage.measure import label as connected_regions

    label_image = np.asarray(label_image)
    height, width = label_image.shape
    rng = np.random.default_rng(seed)
    sparse = np.zeros((height, width), dtype=np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (brush * 2 + 1, brush * 2 + 1))
    regions = []
    for k in np.unique(label_image):
        # stay a brush width inside the class, so strokes do not touch the boundary
        inside = cv2.erode((label_image == k).astype(np.uint8), kernel).astype(bool)
        components = connected_regions(inside, connectivity=1)
        for region_id in range(1, components.max() + 1):
            pixels = np.argwhere(components == region_id)
            if len(pixels) >= min_region:
                regions.append((int(k), pixels, components == region_id))
    if not regions:
        return sparse
    target = coverage * height * width
    area = sum(len(p) for _, p, _ in regions)
    stroke_area = stroke_length * brush
    for k, pixels, mask in regions:
        n_strokes = max(1, int(round(target * len(pixels) / area / stroke_area)))
        for _ in range(n_strokes):
            y, x = pixels[rng.integers(len(pixels))]
            sparse[stroke_mask(mask, (int(y), int(x)), brush, stroke_length, rng)] = k + 1
    return sparse


def stroke_mask(mask: np.ndarray, start: tuple[int, int], brush: int, stroke_length: int,
                rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool pixels of one stroke: a random walk of steps of 4 px from ``start`` (row, col), turning a little
    at each step, for ``stroke_length`` px or until it would leave ``mask`` ((H, W) bool), drawn ``brush`` px wide
    and cut to ``mask``."""
    import cv2

    height, width = mask.shape
    y, x = start
    angle = rng.uniform(0, 2 * np.pi)
    points = [(x, y)]
    for _ in range(stroke_length // 4):
        angle += rng.normal(0, 0.4)
        nx, ny = int(round(x + 4 * np.cos(angle))), int(round(y + 4 * np.sin(angle)))
        if not (0 <= nx < width and 0 <= ny < height and mask[ny, nx]):
            break
        x, y = nx, ny
        points.append((x, y))
    stroke = np.zeros(mask.shape, dtype=np.uint8)
    cv2.polylines(stroke, [np.asarray(points, dtype=np.int32)], False, 1, thickness=brush)
    if len(points) == 1:
        cv2.circle(stroke, points[0], max(1, brush // 2), 1, -1)
    return (stroke > 0) & mask


def innermost_pixel(mask: np.ndarray) -> tuple[int, int]:
    """(row, col) of the pixel of an (H, W) bool ``mask`` farthest from the mask's edge (and the image's)."""
    import cv2

    inside = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(inside)), mask.shape)
    return int(row), int(col)


def region_strokes(truth: np.ndarray, brush: int = 5, stroke_length: int = 60, min_region: int = 200,
                   seed: int = 0) -> tuple[np.ndarray, int]:
    """A person's first strokes: one short stroke in each connected region (4-connected, at least ``min_region``
    pixels) of each class of the (H, W) 0-based ``truth``, from the region's innermost pixel.
    Returns ((H, W) uint8 strokes, 0 = none, k = class k-1; the number of strokes)."""
    from skimage.measure import label as connected_regions

    truth = np.asarray(truth)
    rng = np.random.default_rng(seed)
    sparse = np.zeros(truth.shape, dtype=np.uint8)
    n_strokes = 0
    for k in np.unique(truth):
        components = connected_regions(truth == k, connectivity=1)
        sizes = np.bincount(components.ravel())
        for region_id in np.flatnonzero(sizes[1:] >= min_region) + 1:
            region = components == region_id
            sparse[stroke_mask(region, innermost_pixel(region), brush, stroke_length, rng)] = k + 1
            n_strokes += 1
    return sparse, n_strokes


def correction_stroke(truth: np.ndarray, label_image: np.ndarray, brush: int = 5, stroke_length: int = 60,
                      seed: int = 0) -> tuple[np.ndarray, int] | None:
    """The stroke a person adds to correct a result: inside the largest connected region (4-connected) of pixels
    that are wrong and of one true class, from its innermost pixel, in that class.

    truth, label_image : (H, W) integer class maps, 0-based.
    Returns ((H, W) bool stroke pixels, 0-based class), or None when every pixel is right.
    """
    from skimage.measure import label as connected_regions

    truth = np.asarray(truth)
    best, best_size, best_class = None, 0, -1
    for k in np.unique(truth[truth != label_image]):
        components = connected_regions((truth == k) & (label_image != k), connectivity=1)
        sizes = np.bincount(components.ravel())[1:]
        if len(sizes) and sizes.max() > best_size:
            best, best_size, best_class = components == (np.argmax(sizes) + 1), int(sizes.max()), int(k)
    if best is None:
        return None
    return stroke_mask(best, innermost_pixel(best), brush, stroke_length, np.random.default_rng(seed)), best_class
