"""Fully connected CRF (Krähenbühl & Koltun 2011) on arrays, with pydensecrf.

Two entry points share one inference routine:

- ``crf_from_labels``: sparse labels (0 = none, k = class k-1) -> dense labels, as in the labelling tool and the
  hybrid method. Labelled pixels get probability ``gt_prob`` for their class, unlabelled pixels a uniform unary.
- ``crf_from_probs``: per-class probabilities (e.g. from a network) -> refined labels.

Unlike the legacy recipe (reference/legacy_behaviour.md section 1.4) there is no phantom class (exactly N labels),
both pairwise kernels use explicit (row, col) features so non-square images are handled correctly, the CRF runs
at ``scale`` and the result is returned at exactly the input's (H, W).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .errors import InputError, require

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CRFParams:
    """Dense-CRF settings. Distances are in pixels of the image the CRF runs on (after ``scale``).

    theta_bilateral : spatial standard deviation of the appearance (bilateral) kernel, pixels (legacy 60).
    theta_color     : colour standard deviation of the bilateral kernel, 0-255 intensity units (legacy 1).
    compat_bilateral: Potts weight of the bilateral kernel (legacy 100).
    theta_gaussian  : spatial standard deviation of the smoothness kernel, pixels; 0 disables it.
    compat_gaussian : Potts weight of the smoothness kernel.
    n_iter          : mean-field iterations (legacy 30 for labelling, 20 hybrid, 40 FCN).
    gt_prob         : certainty of a sparse label, in (1/N, 1) (legacy 0.5).
    scale           : the CRF runs on the image resized by this factor, in (0, 1] (the tutorial's ``-s``).
    """

    theta_bilateral: float = 60.0
    theta_color: float = 1.0
    compat_bilateral: float = 100.0
    theta_gaussian: float = 0.0
    compat_gaussian: float = 0.0
    n_iter: int = 30
    gt_prob: float = 0.5
    scale: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.scale <= 1.0:
            raise InputError(f"-s/scale must be in (0, 1], got {self.scale}")
        if not 0.0 < self.gt_prob < 1.0:
            raise InputError(f"the CRF label certainty (prob) must be strictly between 0 and 1, got {self.gt_prob}")
        if self.n_iter < 1:
            raise InputError(f"the number of CRF iterations must be at least 1, got {self.n_iter}")
        if self.theta_bilateral <= 0 or self.theta_color <= 0:
            raise InputError("the CRF kernel widths (theta) must be positive")
        if self.theta_gaussian < 0 or self.compat_gaussian < 0 or self.compat_bilateral < 0:
            raise InputError("CRF Gaussian width and compatibilities must not be negative")


def scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """(H, W) times ``scale``, rounded, at least 1 x 1."""
    return max(1, int(round(shape[0] * scale))), max(1, int(round(shape[1] * scale)))


def unary_from_sparse(sparse: np.ndarray, n_classes: int, gt_prob: float) -> np.ndarray:
    """(H, W) sparse labels (0 = none, k = class k-1) -> (H, W, N) float32 probabilities.

    A labelled pixel has ``gt_prob`` on its class and the rest shared evenly; an unlabelled pixel is uniform.
    """
    sparse = np.asarray(sparse)
    if sparse.size and int(sparse.max()) > n_classes:
        raise InputError(f"sparse labels hold value {int(sparse.max())}, but there are only {n_classes} classes "
                         f"(values must be 0 = none or 1..{n_classes})")
    probs = np.full(sparse.shape + (n_classes,), 1.0 / n_classes, dtype=np.float32)
    labelled = sparse > 0
    if n_classes > 1:
        probs[labelled] = (1.0 - gt_prob) / (n_classes - 1)
    rows, cols = np.nonzero(labelled)
    probs[rows, cols, sparse[labelled].astype(np.int64) - 1] = gt_prob
    return probs


def _inference(image: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    """Mean-field inference on (h, w, 3) uint8 and (h, w, N) probabilities -> (h, w, N) float32 marginals."""
    dcrf = require("pydensecrf.densecrf", "pydensecrf2", "run the dense CRF")
    height, width, n_classes = probs.shape
    n_pixels = height * width
    crf = dcrf.DenseCRF(n_pixels, n_classes)
    unary = -np.log(np.clip(probs, 1e-6, 1.0)).reshape(n_pixels, n_classes).T
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    if params.theta_gaussian > 0 and params.compat_gaussian > 0:
        positions = np.stack([rows.ravel(), cols.ravel()]) / params.theta_gaussian
        crf.addPairwiseEnergy(np.ascontiguousarray(positions, dtype=np.float32), compat=params.compat_gaussian,
                              kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
    colour = image.reshape(n_pixels, 3).T.astype(np.float32) / params.theta_color
    features = np.vstack([rows.ravel()[None] / params.theta_bilateral, cols.ravel()[None] / params.theta_bilateral,
                          colour])
    crf.addPairwiseEnergy(np.ascontiguousarray(features, dtype=np.float32), compat=params.compat_bilateral,
                          kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
    marginals = np.asarray(crf.inference(params.n_iter), dtype=np.float32)
    return marginals.T.reshape(height, width, n_classes)


def crf_from_probs(image: np.ndarray, probs: np.ndarray, params: CRFParams) -> tuple[np.ndarray, np.ndarray]:
    """Refine per-class probabilities with a dense CRF.

    image  : (H, W, 3) uint8 RGB.
    probs  : (H, W, N) float probabilities (rows need not sum to 1), or (h, w, N) on a coarser grid.
    Returns (label_image (H, W) uint8/uint16 0-based, marginals (h', w', N) float32 on the CRF grid,
    i.e. (H, W) times ``params.scale``).
    """
    from .io.images import resize_image

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    probs = np.asarray(probs, dtype=np.float32)
    n_classes = probs.shape[2]
    grid = scaled_shape(image.shape[:2], params.scale)
    small_image = resize_image(image, grid)
    small_probs = resize_image(probs, grid) if probs.shape[:2] != grid else probs
    if small_probs.ndim == 2:  # cv2 drops a single channel
        small_probs = small_probs[:, :, None]
    marginals = _inference(small_image, small_probs, params)
    # bring the marginals back to full size (bilinear), then take the most likely class: exact input shape
    full = resize_image(marginals, image.shape[:2]) if grid != image.shape[:2] else marginals
    if full.ndim == 2:
        full = full[:, :, None]
    label_image = np.argmax(full, axis=2).astype(np.uint8 if n_classes <= 256 else np.uint16)
    return label_image, marginals


def crf_from_labels(image: np.ndarray, sparse: np.ndarray, n_classes: int,
                    params: CRFParams) -> tuple[np.ndarray, np.ndarray]:
    """Dense labels from sparse ones (0 = none, k = class k-1); see ``crf_from_probs`` for shapes.

    The stroke probabilities are brought to the CRF grid by area averaging, so thin strokes survive a strong
    down-scaling (as weaker evidence) instead of vanishing between nearest-neighbour samples.
    """
    sparse = np.asarray(sparse)
    if sparse.shape != image.shape[:2]:
        raise InputError(f"the strokes ({sparse.shape[1]} x {sparse.shape[0]} px) and the image "
                         f"({image.shape[1]} x {image.shape[0]} px) differ in size; draw the strokes on this image")
    if not (sparse > 0).any():
        raise InputError("there are no strokes: draw at least one stroke (for each class present)")
    probs = unary_from_sparse(sparse, n_classes, params.gt_prob)
    return crf_from_probs(image, probs, params)
