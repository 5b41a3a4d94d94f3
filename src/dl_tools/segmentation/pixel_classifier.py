"""A per-image pixel classifier: a random forest trained on the stroke pixels of one image, on multi-scale
intensity, edge and texture features plus the pixel's position, predicts every pixel's class probabilities
(the unary of the labelling engine's ``"classifier"`` option)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays.resize import resize_image
from ..errors import InputError
from .crf import scaled_shape


@dataclass(frozen=True)
class ClassifierParams:
    """Settings of the per-image pixel classifier (``classifier_probs``).

    sigma_min, sigma_max : smallest and largest Gaussian scale of the features, in pixels of the working grid.
    n_estimators, max_depth : size of the random forest.
    max_samples_per_class : stroke pixels drawn at random (seeded) per class for training.
    floor   : every probability is mixed with ``floor`` of a uniform distribution, so the CRF can overrule the
              classifier where colours say otherwise (a zero probability would be an infinite cost).
    seed    : random seed of the sampling and the forest.
    n_jobs  : worker threads of the forest (None = one per core).
    """

    sigma_min: float = 0.5
    sigma_max: float = 16.0
    n_estimators: int = 40
    max_depth: int | None = 14
    max_samples_per_class: int = 4000
    floor: float = 0.1
    seed: int = 0
    n_jobs: int | None = None

    def __post_init__(self):
        if not 0 < self.sigma_min < self.sigma_max:
            raise InputError(f"classifier feature scales must satisfy 0 < sigma_min < sigma_max, "
                             f"got {self.sigma_min}, {self.sigma_max}")
        if self.n_estimators < 1 or self.max_samples_per_class < 1:
            raise InputError("the classifier needs at least one tree and one sample per class")
        if not 0.0 <= self.floor < 1.0:
            raise InputError(f"classifier probability floor must be in [0, 1), got {self.floor}")


def stroke_samples(sparse: np.ndarray, grid: tuple[int, int], max_per_class: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training pixels on the (h, w) working grid from full-size strokes: (rows, cols, classes 0-based).

    Each stroke pixel maps to the grid cell that contains it; a cell claimed by two classes is dropped; at most
    ``max_per_class`` cells per class are drawn at random.
    """
    height, width = sparse.shape
    rows, cols = np.nonzero(sparse)
    classes = sparse[rows, cols].astype(np.int64) - 1
    cell = (rows * grid[0] // height) * grid[1] + cols * grid[1] // width
    cell_class = np.unique(cell * 65536 + classes)
    cells, counts = np.unique(cell_class // 65536, return_counts=True)
    keep = np.isin(cell_class // 65536, cells[counts == 1])
    cell_class = cell_class[keep]
    chosen = []
    for k in np.unique(cell_class % 65536):
        members = cell_class[cell_class % 65536 == k]
        if len(members) > max_per_class:
            members = rng.choice(members, max_per_class, replace=False)
        chosen.append(members)
    chosen = np.concatenate(chosen)
    cells, classes = chosen // 65536, chosen % 65536
    return cells // grid[1], cells % grid[1], classes


def pixel_features(image: np.ndarray, params: ClassifierParams) -> np.ndarray:
    """(h, w, 3) uint8 image -> (h, w, F) float32 features: scikit-image's multi-scale intensity, edge and texture
    features of each channel (Gaussian scales ``sigma_min``..``sigma_max`` pixels) plus the row and column of the
    pixel, each scaled to [0, 1]."""
    from skimage.feature import multiscale_basic_features

    height, width = image.shape[:2]
    features = multiscale_basic_features(image.astype(np.float32) / 255.0, channel_axis=-1,
                                         sigma_min=params.sigma_min, sigma_max=params.sigma_max)
    rows, cols = np.meshgrid(np.linspace(0, 1, height, dtype=np.float32), np.linspace(0, 1, width, dtype=np.float32),
                             indexing="ij")
    return np.concatenate([features.astype(np.float32, copy=False), rows[..., None], cols[..., None]], axis=2)


def classifier_probs(image: np.ndarray, sparse: np.ndarray, n_classes: int, params: ClassifierParams,
                     scale: float = 1.0) -> np.ndarray:
    """Per-pixel class probabilities from a random forest trained on this image's strokes.

    image  : (H, W, 3) uint8 RGB.  sparse : (H, W) strokes, 0 = none, k = class k-1.
    scale  : features, training and prediction run on the image resized by this factor, in (0, 1].
    Returns (h, w, N) float32 probabilities on the grid (H, W) times ``scale``, each mixed with ``params.floor``
    of a uniform distribution. A class without strokes gets probability floor / N everywhere.
    """
    from sklearn.ensemble import RandomForestClassifier

    grid = scaled_shape(image.shape[:2], scale)
    rng = np.random.default_rng(params.seed)
    features = pixel_features(resize_image(image, grid), params)
    rows, cols, classes = stroke_samples(sparse, grid, params.max_samples_per_class, rng)
    present = np.unique(classes)
    probs = np.zeros(tuple(grid) + (n_classes,), dtype=np.float32)
    if len(present) == 1:
        probs[:, :, present[0]] = 1.0
    else:
        forest = RandomForestClassifier(n_estimators=params.n_estimators, max_depth=params.max_depth,
                                        n_jobs=params.n_jobs, random_state=int(rng.integers(2**31)))
        forest.fit(features[rows, cols], classes)
        flat = features.reshape(-1, features.shape[2])
        out = probs.reshape(-1, n_classes)
        step = 1 << 18  # predict in blocks: bounded memory on large images
        for start in range(0, len(flat), step):
            out[start:start + step, forest.classes_] = forest.predict_proba(flat[start:start + step])
    probs *= 1.0 - params.floor
    probs += params.floor / n_classes
    return probs
