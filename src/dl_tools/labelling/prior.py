"""The model proposes, the person corrects: dense labels from a trained model's per-class probabilities (the prior)
and a person's strokes, and the model's uncertainty to sort images by.

``label_with_prior`` runs the dense CRF (``segmentation.crf``) on a unary that multiplies the model's probabilities,
softened (mixed with a little of the uniform distribution, then raised to a power below one), with the strokes as
near-certain evidence; the weighting was chosen by measurement (benchmarks/bench_strokes.py, docs/experiments.md).
With no stroke the model's labels come out, cleaned up by the CRF: the proposal. A stroke overrides the model on its
pixels and, through the CRF's colour kernel, in the similar-looking pixels around it (``PriorParams.reach``). A
stroke of another class than the model's where it is drawn is a correction: the person says the proposal is wrong
there, so over the segment of the model's labels that holds it (a connected region of one class of the model's
most likely class) the model stops preferring its class to the stroke's (``PriorParams.corrected_lift``), less so
farther from the stroke (``PriorParams.corrected_reach``), and the CRF's colour kernel carries the stroke's class
over the pixels of that segment that look like it.
When the model also gives its per-pixel features (``ModelEvidence``), those labels and the strokes are the training
examples of a classifier on the features, refitted at every compute, whose probabilities go through a gentler CRF
(``labelling.refit``): it carries each correction on to the pixels the model sees alike, where colour edges would
have stopped it. All of it follows from the strokes and the model's probabilities and features alone, so the
scripted mode and the web labeller give the same labels for the same strokes, whatever the order they were drawn
in.

The probabilities come from ``workflows.prior`` (a step-4 model through the hybrid method, or a step-8 run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arrays.resize import resize_image, resize_labels
from ..errors import InputError
from ..segmentation.crf import (
    CRFParams,
    check_strokes,
    crf_from_probs,
    crf_marginals,
    fraction_probs,
    scaled_shape,
    stroke_fractions,
)
from .refit import RefitParams


@dataclass(frozen=True)
class PriorParams:
    """How the model's probabilities and the strokes are weighed in the CRF's unary (chosen by measurement).

    weight      : exponent of the model's probabilities, in (0, 1]: the unary's model term is -weight * log(p);
                  below 1 the model is trusted less, so the strokes spread further.
    floor       : share of the uniform distribution mixed into the model's probabilities, in [0, 1):
                  (1 - floor) * p + floor / N, so that no class is ever impossible where the model is sure.
    stroke_prob : certainty of a stroke pixel's class, in (0, 1): near 1, near-certain evidence.
    reach       : how far around a stroke the model gives way, as a fraction of the image's diagonal, >= 0: at a
                  distance d from the nearest stroke the model's weight is multiplied by 1 - exp(-d^2 / (2 r^2)),
                  r = reach x diagonal (0 near a stroke, 0.39 at r, 0.99 at 3 r), so a stroke takes over the
                  similar-looking pixels around it as in the strokes-only engine; 0 = never.
    corrected_lift : in [0, 1]: over a segment of the proposal (``corrected_segments``) that holds a stroke of
                  another class than the proposal's, the model's probability of the stroke's class is raised to
                  this share of its most likely class's: 1 = the model no longer prefers its class to the stroke's
                  there (the CRF's colour kernel alone decides between the two); 0 = a correction counts only near
                  the stroke (``reach``).
    corrected_reach : how far from the correcting stroke that lift reaches, as a fraction of the image's diagonal,
                  >= 0: the lift is multiplied by exp(-d^2 / (2 r^2)), d the distance to the nearest stroke of its
                  class and r = corrected_reach x diagonal, so a correction of a segment that spans the photograph
                  does not hand all of it to the colour kernel; 0 = the whole segment alike.
    refit       : how the model's features learn from the corrections (``labelling.refit``); None = never.
    """

    weight: float = 0.3
    floor: float = 0.1
    stroke_prob: float = 0.99
    reach: float = 0.05
    corrected_lift: float = 0.9
    corrected_reach: float = 0.2
    refit: RefitParams | None = field(default_factory=RefitParams)

    def __post_init__(self):
        if not 0.0 < self.weight <= 1.0:
            raise InputError(f"the prior's weight must be in (0, 1], got {self.weight}")
        if not 0.0 <= self.floor < 1.0:
            raise InputError(f"the prior's floor must be in [0, 1), got {self.floor}")
        if not 0.0 < self.stroke_prob < 1.0:
            raise InputError(f"the strokes' certainty must be strictly between 0 and 1, got {self.stroke_prob}")
        if self.reach < 0.0:
            raise InputError(f"the strokes' reach must not be negative, got {self.reach}")
        if not 0.0 <= self.corrected_lift <= 1.0:
            raise InputError(f"the lift of a correction's class must be in [0, 1], got {self.corrected_lift}")
        if self.corrected_reach < 0.0:
            raise InputError(f"the reach of a correction's lift must not be negative, got {self.corrected_reach}")


@dataclass(frozen=True)
class ModelEvidence:
    """What a model gives the labeller for one image (``workflows.prior``): ``probs`` (h, w, N) float32 class
    probabilities in the labelling's order, and ``features`` (h', w', D) float32 per-pixel features (``models.
    dense_features``) or None; both on any grid (the labelling's, the image times -s, when they come from
    ``workflows.prior``)."""

    probs: np.ndarray
    features: np.ndarray | None = None

    def proposal(self, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) uint8 the model's most likely class, brought to ``shape`` (nearest neighbour)."""
        return resize_labels(np.argmax(self.probs, axis=2).astype(np.uint8), shape)


def prior_crf_params(scale: float) -> CRFParams:
    """The CRF settings used with a prior (measured: docs/experiments.md): those of the default engine
    (``labelling.engine.default_crf_params("strokes", scale)``)."""
    from .engine import default_crf_params

    return default_crf_params("strokes", scale)


def prior_unary(prior_probs: np.ndarray, fractions: np.ndarray, prior: PriorParams) -> np.ndarray:
    """(h, w, N) float32 probabilities (rows summing to 1) on the CRF grid: the softened model probabilities
    (``PriorParams``: weight, floor, giving way near the strokes and to the strokes' classes over the segments they
    correct) times the strokes' evidence (``segmentation.crf.fraction_probs``).

    prior_probs : (h', w', N) model probabilities on any grid (resized bilinearly to the CRF grid).
    fractions   : (h, w, N) per-class area fractions of the strokes on the CRF grid
                  (``segmentation.crf.stroke_fractions``).
    """
    n_classes, grid = prior_probs.shape[2], fractions.shape[:2]
    model = resize_image(np.asarray(prior_probs, dtype=np.float32), grid)
    if model.ndim == 2:  # cv2 drops a single channel
        model = model[:, :, None]
    model = (1.0 - prior.floor) * np.clip(model, 0.0, 1.0) + prior.floor / n_classes
    if prior.corrected_lift > 0:  # a lift of 0 leaves every probability as it is
        corrected = corrected_segments(np.argmax(model, axis=2), fractions)
        lift = prior.corrected_lift * model.max(axis=2)
        for k in np.flatnonzero(corrected.any(axis=(0, 1))):
            reaching = lift
            if prior.corrected_reach > 0:  # fading with the distance from the class's strokes
                reaching = lift * (1.0 - stroke_distance_factor(fractions[:, :, k] > 0, prior.corrected_reach))
            model[:, :, k] = np.where(corrected[:, :, k], np.maximum(model[:, :, k], reaching), model[:, :, k])
    weight = prior.weight * stroke_distance_factor(fractions.sum(axis=2) > 0, prior.reach)
    unary = np.power(np.maximum(model, 1e-6), weight[:, :, None]) * fraction_probs(fractions, prior.stroke_prob)
    return (unary / unary.sum(axis=2, keepdims=True)).astype(np.float32)


def corrected_segments(proposal: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """(h, w, N) bool: [i, j, k] is True when the segment of the ``proposal`` holding cell (i, j) is touched by a
    stroke of class k, another class than the segment's. ``proposal``: (h, w) integer classes, 0-based, whose
    segments are its 4-connected regions of one class; ``fractions``: (h, w, N) per-class area fractions of the
    strokes on the same grid (``segmentation.crf.stroke_fractions``). All False without such a stroke."""
    from skimage.measure import label as connected_regions

    corrected = np.zeros(fractions.shape, bool)
    touched = (fractions > 0) & (np.arange(fractions.shape[2]) != proposal[:, :, None])
    if not touched.any():
        return corrected
    segments = connected_regions(proposal.astype(np.int32) + 1, background=0, connectivity=1)
    for k in np.flatnonzero(touched.any(axis=(0, 1))):
        corrected[:, :, k] = np.isin(segments, np.unique(segments[touched[:, :, k]]))
    return corrected


def stroke_distance_factor(stroked: np.ndarray, reach: float) -> np.ndarray:
    """(h, w) float32 in [0, 1]: 1 - exp(-d^2 / (2 r^2)), d the distance (cells) to the nearest cell of the (h, w)
    bool ``stroked`` grid (a cell touched by a stroke: area averaging keeps thin strokes) and r = ``reach`` times the
    grid's diagonal; all 1 when no cell is stroked or ``reach`` is 0."""
    import cv2

    if reach <= 0 or not stroked.any():
        return np.ones(stroked.shape, np.float32)
    distance = cv2.distanceTransform((~stroked).astype(np.uint8), cv2.DIST_L2, 5)
    radius = reach * float(np.hypot(*stroked.shape))
    return (1.0 - np.exp(-np.square(distance) / (2.0 * radius ** 2))).astype(np.float32)


def label_with_prior(image: np.ndarray, sparse: np.ndarray, prior_probs: np.ndarray, n_classes: int,
                     params: CRFParams, prior: PriorParams | None = None,
                     features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dense labels from a model's probabilities and (possibly no) strokes, the shape contract of
    ``labelling.engine.label_from_strokes``.

    image       : (H, W, 3) uint8 RGB.  sparse : (H, W) strokes, 0 = none, k = class k-1 (may be all 0).
    prior_probs : (h, w, N) float model probabilities, classes in the labelling's order, on any grid (e.g. the
                  image's (H, W), or that times ``params.scale``).
    params      : the CRF settings (``params.scale`` is the CRF grid; ``gt_prob`` is not used: see ``prior``).
    features    : (h'', w'', D) float per-pixel features of the model on any grid (``workflows.prior``), or None:
                  with features and strokes, the labels are refitted to the corrections (``labelling.refit``).
    Returns (label_image (H, W) uint8 0-based, marginals (h', w', N) float32 on the grid (H, W) times
    ``params.scale``). Stroke pixels keep their stroke's class in ``label_image``.
    """
    prior = prior or PriorParams()
    sparse = check_strokes(sparse, image.shape, n_classes, allow_empty=True)
    prior_probs = np.asarray(prior_probs)
    if prior_probs.ndim != 3 or prior_probs.shape[2] != n_classes:
        raise ValueError(f"prior_probs must be (h, w, {n_classes}), got {prior_probs.shape}")
    fractions = stroke_fractions(sparse, n_classes, scaled_shape(image.shape[:2], params.scale))
    unary = prior_unary(prior_probs, fractions, prior)
    stroked = sparse > 0
    if features is not None and prior.refit is not None and stroked.any():  # the first stage's labels on its grid
        first_labels = crf_marginals(image, unary, params).argmax(axis=2)
        label_image, marginals = _refitted(image, sparse, fractions, prior_probs, features, first_labels, prior,
                                           params.scale)
    else:
        label_image, marginals = crf_from_probs(image, unary, params)
    label_image[stroked] = sparse[stroked] - 1
    return label_image, marginals


def label_with_evidence(image: np.ndarray, sparse: np.ndarray, evidence: ModelEvidence, params: CRFParams,
                        prior: PriorParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``label_with_prior`` with what a model gives for the image (``ModelEvidence``): its N-class probabilities
    and, when it has them, its features."""
    return label_with_prior(image, sparse, evidence.probs, evidence.probs.shape[2], params, prior, evidence.features)


def _refitted(image: np.ndarray, sparse: np.ndarray, fractions: np.ndarray, prior_probs: np.ndarray,
              features: np.ndarray, first_labels: np.ndarray, prior: PriorParams,
              scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The second stage of ``label_with_prior``: the classifier refitted to the (h, w) ``first_labels`` and the
    strokes (``labelling.refit.refit_probs``, on a grid of at most ``RefitParams.max_cells`` cells, its
    probabilities brought back to (h, w)), through the gentle CRF with the strokes (``fractions``, (h, w, N)) as
    evidence."""
    from .refit import pixel_features, refit_crf_params, refit_grid, refit_probs

    n_classes, grid = prior_probs.shape[2], first_labels.shape
    work = refit_grid(grid, prior.refit.max_cells)

    def on_work_grid(maps: np.ndarray) -> np.ndarray:
        return resize_image(np.asarray(maps, dtype=np.float32), work).reshape(work + (maps.shape[2],))

    model = on_work_grid(prior_probs)
    cells = pixel_features(resize_image(image, work), on_work_grid(features), model, prior.refit.position)
    on_work = fractions if work == grid else stroke_fractions(sparse, n_classes, work)
    stroke_classes = np.where(on_work.sum(axis=2) > 0.5, on_work.argmax(axis=2), -1)
    probs = refit_probs(cells, resize_labels(first_labels, work), stroke_classes, n_classes, prior.refit)
    second = PriorParams(weight=1.0, floor=prior.refit.floor, stroke_prob=prior.stroke_prob, reach=0.0,
                         corrected_lift=0.0, refit=None)
    return crf_from_probs(image, prior_unary(probs, fractions, second), refit_crf_params(scale))


def mean_entropy(probs: np.ndarray) -> float:
    """The model's uncertainty over an image: the mean over pixels of the entropy of (h, w, N) probabilities,
    normalised by log(N) to [0, 1] (0: one class certain everywhere; 1: uniform everywhere). Rows are normalised
    to sum to 1 first (``scipy.stats.entropy``). N = 1 gives 0."""
    from scipy.stats import entropy

    probs = np.asarray(probs, dtype=np.float64)
    n_classes = probs.shape[-1]
    if n_classes < 2:
        return 0.0
    return float(np.mean(entropy(np.maximum(probs, 0.0), axis=-1)) / np.log(n_classes))


def class_order(source: list[str], target: list[str], source_name: str, target_name: str) -> np.ndarray:
    """(N,) int64 indices that put the classes of ``source`` (a model's) in the order of ``target`` (the labelling's):
    ``probs[..., class_order(...)]``. Classes are matched by name; InputError naming the classes that do not match
    (and both files, ``source_name`` and ``target_name``) when the two sets differ."""
    missing, extra = [n for n in target if n not in source], [n for n in source if n not in target]
    if missing or extra or len(set(source)) != len(source):
        parts = ([f"{source_name} lacks {', '.join(missing)}"] if missing else []) + \
                ([f"{target_name} lacks {', '.join(extra)}"] if extra else [])
        detail = "; ".join(parts) or f"{source_name} names a class twice"
        raise InputError(f"the model's classes ({', '.join(source)}) do not match the labels "
                         f"({', '.join(target)}): {detail}; give the model trained on these classes")
    return np.array([source.index(name) for name in target], dtype=np.int64)
