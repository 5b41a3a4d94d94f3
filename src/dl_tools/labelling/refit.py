"""The model learns from the corrections: a per-image classifier on the model's own features, refitted at every
compute, so that a correction reaches every pixel the model sees alike, not only those of its colour.

``label_with_prior`` (``labelling.prior``) first fuses the model's probabilities with the strokes through the dense
CRF (the *first labels*). When the model also gives its per-pixel features (``workflows.prior``: the step-8
network's, or an ImageNet backbone's for a step-4 model) and there are strokes, ``refit_probs`` fits a linear
discriminant (scikit-learn's ``LinearDiscriminantAnalysis``, shrunk covariance) to a sample of the first labels and
to the stroked pixels, on the features, the pixel's colour (CIELAB) and the model's log-probabilities, and its
probabilities go through a gentle CRF (``refit_crf_params``) with the strokes as near-certain evidence. The first
labels carry what the CRF made of the model and the strokes (a correction over the segment it lies in); the refit
carries the corrections on to where the labels do not follow colour edges (bands of surf or wet sand drawn wider
than what they outline), where the CRF alone snaps back to the edges. Chosen by measurement
(benchmarks/bench_strokes.py, docs/experiments.md). Deterministic: the same strokes give the same labels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class RefitParams:
    """How the per-image classifier is refitted to the corrections (chosen by measurement).

    samples      : cells of the first labels drawn at random (fixed seed, no repeats) as its training examples, >= 1.
    stroke_share : weight of the stroked pixels against those examples, > 0: as many stroked pixels (drawn with
                   replacement) as ``stroke_share`` x ``samples`` join them, so 1 = the strokes count as much as
                   the first labels, whatever their size.
    shrinkage    : shrinkage of the classes' shared covariance towards a multiple of the identity, in [0, 1].
    floor        : share of the uniform distribution mixed into the classifier's probabilities before the gentle
                   CRF, in [0, 1) (``PriorParams.floor``; the classifier is trusted fully otherwise: weight 1).
    position     : weight of the cell's row and column (standardised) among the features, >= 0; 0 = not used.
    max_cells    : the classifier works on the CRF grid reduced to at most this many cells (``refit_grid``), its
                   probabilities then brought back; bounds the time and memory of a refit on a large photograph.
    """

    samples: int = 4000
    stroke_share: float = 1.0
    shrinkage: float = 0.1
    floor: float = 0.01
    position: float = 0.0
    max_cells: int = 300_000

    def __post_init__(self):
        if self.samples < 1:
            raise InputError(f"the refit's samples must be at least 1, got {self.samples}")
        if self.stroke_share <= 0:
            raise InputError(f"the refit's stroke share must be positive, got {self.stroke_share}")
        if not 0.0 <= self.shrinkage <= 1.0:
            raise InputError(f"the refit's shrinkage must be in [0, 1], got {self.shrinkage}")
        if not 0.0 <= self.floor < 1.0:
            raise InputError(f"the refit's floor must be in [0, 1), got {self.floor}")
        if self.max_cells < 1:
            raise InputError(f"the refit's max_cells must be at least 1, got {self.max_cells}")
        if self.position < 0:
            raise InputError(f"the refit's position weight must not be negative, got {self.position}")


def refit_crf_params(scale: float):
    """The gentle CRF after the refit (measured): that of the classifier engine
    (``labelling.engine.default_crf_params("classifier", scale)``)."""
    from .engine import default_crf_params

    return default_crf_params("classifier", scale)


def refit_grid(grid: tuple[int, int], max_cells: int) -> tuple[int, int]:
    """(h, w) ``grid`` scaled down, keeping its aspect, to at most ``max_cells`` cells (unchanged when it has no
    more); each side at least 1."""
    h, w = grid
    if h * w <= max_cells:
        return h, w
    rows = max(1, int(h * (max_cells / (h * w)) ** 0.5))
    return rows, max(1, min(w, max_cells // rows))


def pixel_features(image_grid: np.ndarray, features: np.ndarray, model_probs: np.ndarray,
                   position: float = 0.0) -> np.ndarray:
    """(h * w, D + 3 + N [+ 2]) float32 standardised features of every cell of the CRF grid: the model's
    ``features`` (h, w, D), the colour of ``image_grid`` ((h, w, 3) uint8 RGB on the grid) in CIELAB, and the log of
    the model's (h, w, N) probabilities; each column scaled to zero mean and unit variance (constant columns stay
    0); with ``position`` > 0, the cell's row and column too, so scaled and times ``position``."""
    import cv2

    lab = cv2.cvtColor(image_grid, cv2.COLOR_RGB2LAB).astype(np.float32)
    maps = [features, lab, np.log(np.clip(model_probs, 1e-3, 1.0))]
    if position > 0:
        maps.append(np.stack(np.indices(features.shape[:2]), axis=2))
    stacked = np.concatenate(maps, axis=2)
    flat = stacked.reshape(-1, stacked.shape[2]).astype(np.float32)
    spread = flat.std(axis=0, dtype=np.float64)
    flat -= flat.mean(axis=0, dtype=np.float64).astype(np.float32)
    flat /= np.where(spread > 0, spread, 1.0).astype(np.float32)
    if position > 0:
        flat[:, -2:] *= position
    return flat


def refit_probs(features: np.ndarray, first_labels: np.ndarray, stroke_classes: np.ndarray, n_classes: int,
                params: RefitParams) -> np.ndarray:
    """(h, w, N) float32 class probabilities of the classifier fitted to the corrections.

    features       : (h * w, F) per-cell features (``pixel_features``).
    first_labels   : (h, w) 0-based labels of the first stage on the same grid.
    stroke_classes : (h, w) int, the class of the stroke covering each cell (0-based), -1 where none.
    Classes absent from both the sample and the strokes get probability 0 before the CRF's floor.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    shape = first_labels.shape
    rng = np.random.default_rng(0)
    examples = rng.choice(first_labels.size, size=min(params.samples, first_labels.size), replace=False)
    stroked = np.flatnonzero(stroke_classes.ravel() >= 0)
    drawn = stroked[rng.integers(len(stroked), size=max(1, int(round(params.stroke_share * len(examples)))))]
    cells = np.concatenate([examples, drawn])
    targets = np.concatenate([first_labels.ravel()[examples], stroke_classes.ravel()[drawn]])
    probs = np.zeros((first_labels.size, n_classes), np.float32)
    if len(np.unique(targets)) < 2:
        probs[:, targets[0]] = 1.0
    else:
        classifier = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=params.shrinkage)
        with warnings.catch_warnings():  # a class with a single example: its covariance is the shared one
            warnings.filterwarnings("ignore", "Only one sample available", UserWarning)
            classifier.fit(features[cells], targets)
        probs[:, classifier.classes_] = classifier.predict_proba(features)
    return probs.reshape(shape + (n_classes,))
