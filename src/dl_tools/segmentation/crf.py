"""The fully connected CRF (Krähenbühl & Koltun 2011, pydensecrf) on arrays: dense labels from an image and
per-class probabilities or sparse labels.

- ``crf_from_probs``: per-class probabilities (e.g. from a network) + image -> refined labels (``crf_marginals``:
  the CRF's marginals alone, when the full-size labels are not wanted).
- ``crf_from_labels``: sparse labels (0 = none, k = class k-1) -> dense labels: the legacy labelling recipe
  (reference/legacy_behaviour.md section 1.4): a stroke pixel has probability ``gt_prob`` for its class, other
  pixels a uniform unary, then the CRF.

Unlike the legacy recipe there is no phantom class (exactly N labels), both pairwise kernels use explicit
(row, col) features so non-square images are handled correctly, the work runs at ``scale`` and the result is
returned at exactly the input's (H, W) by bilinear resizing of the probabilities (never by resizing a class map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays.resize import resize_image
from ..errors import InputError, require


@dataclass(frozen=True)
class CRFParams:
    """Dense-CRF settings. Distances are in pixels of the image the CRF runs on (after ``scale``).

    theta_bilateral : spatial standard deviation of the appearance (bilateral) kernel, pixels (legacy 60).
    theta_color     : colour standard deviation of the bilateral kernel, 0-255 intensity units (legacy 1).
    compat_bilateral: Potts weight of the bilateral kernel (legacy 100).
    theta_gaussian  : spatial standard deviation of the smoothness kernel, pixels; 0 disables it.
    compat_gaussian : Potts weight of the smoothness kernel.
    n_iter          : mean-field iterations (legacy 30 for labelling, 20 hybrid, 40 FCN).
    gt_prob         : certainty of a sparse label, in (0, 1) (legacy 0.5).
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
        if self.n_iter < 1 or self.n_iter != int(self.n_iter):
            raise InputError(f"the number of CRF iterations must be a whole number, at least 1, got {self.n_iter}")
        if self.theta_bilateral <= 0 or self.theta_color <= 0:
            raise InputError("the CRF kernel widths (theta) must be positive")
        if self.theta_gaussian < 0 or self.compat_gaussian < 0 or self.compat_bilateral < 0:
            raise InputError("CRF Gaussian width and compatibilities must not be negative")


def scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """(H, W) times ``scale``, rounded, at least 1 x 1."""
    return max(1, int(round(shape[0] * scale))), max(1, int(round(shape[1] * scale)))


def check_strokes(sparse: np.ndarray, image_shape: tuple[int, ...], n_classes: int,
                  allow_empty: bool = False) -> np.ndarray:
    """Validate (H, W) strokes (0 = none, k = class k-1) against an image and N classes; return them as an array.

    Raises InputError for another size than the image, a value above N, or no stroke at all (unless
    ``allow_empty``: with a model's prior, no stroke means "take the model's labels").
    """
    sparse = np.asarray(sparse)
    if sparse.shape != tuple(image_shape[:2]):
        raise InputError(f"the strokes ({sparse.shape[1] if sparse.ndim > 1 else '?'} x {sparse.shape[0]} px) and "
                         f"the image ({image_shape[1]} x {image_shape[0]} px) differ in size; "
                         "draw the strokes on this image")
    if sparse.size and int(sparse.max()) > n_classes:
        raise InputError(f"the strokes hold value {int(sparse.max())}, but there are only {n_classes} classes "
                         f"(values must be 0 = none or 1..{n_classes}); check the labels file")
    if not allow_empty and not (sparse > 0).any():
        raise InputError("there are no strokes: draw at least one stroke (for each class present)")
    return sparse


def unary_from_sparse(sparse: np.ndarray, n_classes: int, gt_prob: float) -> np.ndarray:
    """(H, W) sparse labels (0 = none, k = class k-1) -> (H, W, N) float32 probabilities.

    A labelled pixel has ``gt_prob`` on its class and (1 - gt_prob) / N on every other class, the legacy costs
    (reference/legacy_behaviour.md section 1.4) without the phantom class (rows need not sum to 1; this keeps
    strokes informative for any N, even N = 2 with gt_prob 0.5); an unlabelled pixel is uniform.
    """
    sparse = np.asarray(sparse)
    if sparse.size and int(sparse.max()) > n_classes:
        raise InputError(f"sparse labels hold value {int(sparse.max())}, but there are only {n_classes} classes "
                         f"(values must be 0 = none or 1..{n_classes})")
    probs = np.full(sparse.shape + (n_classes,), 1.0 / n_classes, dtype=np.float32)
    labelled = sparse > 0
    if n_classes > 1:
        probs[labelled] = (1.0 - gt_prob) / n_classes
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
    del unary
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    if params.theta_gaussian > 0 and params.compat_gaussian > 0:
        positions = np.stack([rows.ravel(), cols.ravel()]) / params.theta_gaussian
        crf.addPairwiseEnergy(np.ascontiguousarray(positions, dtype=np.float32), compat=params.compat_gaussian,
                              kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
    color = image.reshape(n_pixels, 3).T.astype(np.float32) / params.theta_color
    features = np.vstack([rows.ravel()[None] / params.theta_bilateral, cols.ravel()[None] / params.theta_bilateral,
                          color])
    crf.addPairwiseEnergy(np.ascontiguousarray(features, dtype=np.float32), compat=params.compat_bilateral,
                          kernel=dcrf.DIAG_KERNEL, normalization=dcrf.NORMALIZE_SYMMETRIC)
    marginals = np.asarray(crf.inference(params.n_iter), dtype=np.float32)
    return marginals.T.reshape(height, width, n_classes)


def upsample_argmax(probs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Most likely class of (h, w, N) probabilities resized bilinearly to ``shape`` = (H, W) -> (H, W) uint8/uint16.

    One class at a time (a running maximum), so memory stays at two (H, W) float32 maps whatever N.
    """
    import cv2

    n_classes = probs.shape[2]
    label_image = np.zeros(shape, dtype=np.uint8 if n_classes <= 256 else np.uint16)
    if probs.shape[:2] == tuple(shape):
        return np.argmax(probs, axis=2).astype(label_image.dtype)
    best = None
    for k in range(n_classes):
        channel = cv2.resize(np.ascontiguousarray(probs[:, :, k]), (int(shape[1]), int(shape[0])),
                             interpolation=cv2.INTER_LINEAR)
        if best is None:
            best = channel
            continue
        better = channel > best
        label_image[better] = k
        np.maximum(best, channel, out=best)
    return label_image


def crf_marginals(image: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    """The dense CRF's (h', w', N) float32 marginals on its grid ((H, W) times ``params.scale``) for an (H, W, 3)
    uint8 RGB image and (H, W, N) float probabilities (rows need not sum to 1) or (h, w, N) on a coarser grid."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    probs = np.asarray(probs, dtype=np.float32)
    grid = scaled_shape(image.shape[:2], params.scale)
    small_image = resize_image(image, grid)
    small_probs = resize_image(probs, grid) if probs.shape[:2] != grid else probs
    if small_probs.ndim == 2:  # cv2 drops a single channel
        small_probs = small_probs[:, :, None]
    return _inference(small_image, small_probs, params)


def crf_from_probs(image: np.ndarray, probs: np.ndarray, params: CRFParams) -> tuple[np.ndarray, np.ndarray]:
    """Refine per-class probabilities with a dense CRF.

    image  : (H, W, 3) uint8 RGB.
    probs  : (H, W, N) float probabilities (rows need not sum to 1), or (h, w, N) on a coarser grid.
    Returns (label_image (H, W) uint8/uint16 0-based, marginals (h', w', N) float32 on the CRF grid,
    i.e. (H, W) times ``params.scale``: ``crf_marginals``).
    """
    marginals = crf_marginals(image, probs, params)
    # bring the marginals back to full size (bilinear), then take the most likely class: exact input shape
    return upsample_argmax(marginals, np.asarray(image).shape[:2]), marginals


def crf_from_labels(image: np.ndarray, sparse: np.ndarray, n_classes: int,
                    params: CRFParams) -> tuple[np.ndarray, np.ndarray]:
    """Dense labels from sparse ones (0 = none, k = class k-1); see ``crf_from_probs`` for shapes and
    ``stroke_probs`` for the unary on the CRF grid."""
    sparse = check_strokes(sparse, image.shape, n_classes)
    grid = scaled_shape(image.shape[:2], params.scale)
    return crf_from_probs(image, stroke_probs(sparse, n_classes, params.gt_prob, grid), params)


def stroke_probs(sparse: np.ndarray, n_classes: int, gt_prob: float, grid: tuple[int, int]) -> np.ndarray:
    """(h, w, N) float32 unary probabilities of (H, W) strokes (0 = none, k = class k-1) on the (h, w) ``grid``.

    A stroke pixel has ``gt_prob`` on its class and (1 - gt_prob) / N on every other class (``unary_from_sparse``),
    an unlabelled pixel is uniform (1 / N). On a coarser grid the strokes are area-averaged: a cell half covered by
    class k strokes is half a stroke pixel and half an unlabelled one, so thin strokes survive a strong
    down-scaling (as weaker evidence) instead of vanishing between nearest-neighbour samples.
    """
    if tuple(grid) == sparse.shape:
        return unary_from_sparse(sparse, n_classes, gt_prob)
    # per-class area fractions on the grid, without a full-size (H, W, N) stack
    return fraction_probs(stroke_fractions(sparse, n_classes, grid), gt_prob)


def fraction_probs(fractions: np.ndarray, gt_prob: float) -> np.ndarray:
    """(h, w, N) float32 unary probabilities of strokes given as (h, w, N) per-class area fractions of each cell
    (``stroke_fractions``): a covered share of a cell counts as a stroke pixel (``gt_prob`` on its class,
    (1 - gt_prob) / N on the others), the rest as an unlabelled one (1 / N)."""
    n_classes = fractions.shape[2]
    covered = fractions.sum(axis=2, keepdims=True)
    others = (1.0 - gt_prob) / n_classes
    probs = (1.0 - covered) / n_classes + covered * others + fractions * (gt_prob - others)
    return probs.astype(np.float32)


def stroke_fractions(sparse: np.ndarray, n_classes: int, grid: tuple[int, int]) -> np.ndarray:
    """(h, w, N) float32: the share of each cell of the (h, w) grid covered by strokes of each class."""
    import cv2

    fractions = np.zeros(tuple(grid) + (n_classes,), dtype=np.float32)
    for k in range(n_classes):
        mask = sparse == k + 1
        if mask.any():
            fractions[:, :, k] = cv2.resize(mask.astype(np.float32), (grid[1], grid[0]), interpolation=cv2.INTER_AREA)
    return fractions
