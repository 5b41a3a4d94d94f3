"""Hybrid whole-image segmentation (Buscombe & Ritchie 2018): tile classifier + dense CRF, on arrays.

1. Lay a grid of ``tile`` x ``tile`` tiles over the whole image; tiles that stick out past the bottom or right edge
   are completed by reflecting the image about that edge. Keep every ``decim``-th tile in each direction (a 2-D
   grid, centred on the image).
2. Classify all kept tiles in batched calls of the classifier. A tile whose top probability is below
   ``prob_thres`` is dropped. The others paint their 1-based class into the tile map (``sparse``; 0 = no tile).
3. The tile map becomes the CRF's unaries with certainty ``prob`` (``crf.unary_from_sparse``) on the CRF grid
   (the image scaled by ``scale``); the dense CRF fills in every pixel, and the result comes back at exactly the
   input's (H, W).

Differences from the legacy semseg_cnn_crf.py (reference/legacy_behaviour.md section 7): a true 2-D grid instead of
every decim-th tile of the flat list, correct reflection padding (no unsure edge strip), the threshold applies
before the CRF (not only in the figure), no phantom class, exact output shape.

The classifier is any object with ``input_size`` ((h, w)), ``n_classes`` and ``predict(images, batch_size)``
((B, h, w, 3) uint8 -> (B, N) float32 probabilities), e.g. ``models.frozen.FrozenClassifier``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..arrays.tiling import WindowPlan, cut_windows, paint_cores, plan_windows
from ..errors import InputError
from .crf import CRFParams, crf_from_probs, crf_marginals, scaled_shape, unary_from_sparse

log = logging.getLogger(__name__)

#: Smallest size, in pixels of the CRF grid, that a tile may shrink to (smaller tiles would vanish there).
MIN_TILE_ON_CRF_GRID = 2


@dataclass(frozen=True)
class HybridParams:
    """Settings of the hybrid method (the tutorial's positionals TILE PROB_THRES PROB DECIM SCALE).

    tile       : tile size in pixels of the input image (the tutorial: 96).
    prob_thres : tiles whose top class probability is below this are not used, in [0, 1) (0.5).
    prob       : certainty of a tile's class in the CRF, in (1/N, 1) (0.5).
    decim      : keep every decim-th tile in each direction; 1 = every tile (8).
    scale      : the CRF runs on the image resized by this factor, in (0, 1] (0.25).
    batch_size : tiles per classifier call.
    crf        : the other CRF settings (the legacy hybrid's are the default; ``gt_prob`` and ``scale`` are
                 replaced by ``prob`` and ``scale``).
    """

    tile: int = 96
    prob_thres: float = 0.5
    prob: float = 0.5
    decim: int = 8
    scale: float = 0.25
    batch_size: int = 64
    crf: CRFParams = field(default_factory=lambda: CRFParams(
        theta_bilateral=60.0, theta_color=5.0, compat_bilateral=100.0, theta_gaussian=60.0, compat_gaussian=5.0,
        n_iter=10))

    def __post_init__(self):
        if self.tile < 1:
            raise InputError(f"TILE must be a positive number of pixels, got {self.tile}")
        if not 0.0 <= self.prob_thres < 1.0:
            raise InputError(f"PROB_THRES must be in [0, 1), got {self.prob_thres}")
        if not 0.0 < self.prob < 1.0:
            raise InputError(f"PROB must be strictly between 0 and 1, got {self.prob}")
        if self.decim < 1:
            raise InputError(f"DECIM must be a positive integer (1 = every tile), got {self.decim}")
        if not 0.0 < self.scale <= 1.0:
            raise InputError(f"SCALE must be in (0, 1], got {self.scale}")
        if self.tile * self.scale < MIN_TILE_ON_CRF_GRID:
            raise InputError(f"SCALE {self.scale} shrinks a {self.tile} px tile to under {MIN_TILE_ON_CRF_GRID} px "
                             f"on the CRF grid; give SCALE >= {MIN_TILE_ON_CRF_GRID / self.tile:.3g}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be a positive integer, got {self.batch_size}")

    def crf_params(self) -> CRFParams:
        """The CRF settings with this run's ``prob`` and ``scale``."""
        from dataclasses import replace

        return replace(self.crf, gt_prob=self.prob, scale=self.scale)

    def check_size(self, shape: tuple[int, int], fix: str | None = None) -> None:
        """Raise InputError, ending with ``fix``, when an image of ``shape`` (H, W) is smaller than one tile."""
        height, width = shape[:2]
        if height < self.tile or width < self.tile:
            raise InputError(f"the image ({width} x {height} px) is smaller than one {self.tile} px tile; "
                             f"{fix or 'use a larger image or a model trained on smaller tiles'}")

    def check_classes(self, n_classes: int) -> None:
        """Raise InputError when PROB does not favour a tile's class over the others' share."""
        if n_classes > 1 and self.prob <= 1.0 / n_classes:
            raise InputError(f"PROB {self.prob} must exceed 1/N = {1.0 / n_classes:.3g} for {n_classes} classes, "
                             "or a tile's class would be no more likely than the others")


@dataclass
class HybridResult:
    """label_image : (H, W) uint8 0-based CRF classes.  sparse : (H, W) uint8 tile map, 0 = none, k = class k-1.
    origins : (K, 2) int64 top-left (row, col) of the classified tiles; tile_class : (K,) int64 0-based top class;
    tile_prob : (K,) float32 its probability; kept : (K,) bool, tile_prob >= prob_thres."""

    label_image: np.ndarray
    sparse: np.ndarray
    origins: np.ndarray
    tile_class: np.ndarray
    tile_prob: np.ndarray
    kept: np.ndarray


def tile_plan(shape: tuple[int, int], tile: int, decim: int = 1) -> WindowPlan:
    """The kept tiles over an (H, W) image, row-major: of the ceil(H / tile) x ceil(W / tile) grid from (0, 0),
    whose last row and column stick out past the image (cut them with ``mirror="reflect"``: the image reflected
    about its edge), every ``decim``-th tile in each direction, centred. With ``decim`` = 1 the tiles cover every
    pixel exactly once; each tile's core is its part inside the image."""
    return plan_windows(shape, tile, edge="mirror").every(decim)


def tile_map(plan: WindowPlan, tile_class: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """(H, W) uint8/uint16 map: 1 + class of the kept tile over each pixel, 0 where there is none."""
    n_max = int(tile_class.max(initial=0)) + 1
    return paint_cores(plan[kept], tile_class[kept] + 1, dtype=np.uint8 if n_max <= 255 else np.uint16)


def tile_probs(image: np.ndarray, plan: WindowPlan, classifier, params: HybridParams) -> np.ndarray:
    """(K, N) float32 class probabilities of each tile of ``plan``; tiles that stick out of ``image`` are completed
    by reflecting it about its edge."""
    return predict_tiles(cut_windows(image, plan, mirror="reflect"), classifier, params)


def predict_tiles(tiles: np.ndarray, classifier, params: HybridParams) -> np.ndarray:
    """(K, N) float32 class probabilities of (K, tile, tile, 3) uint8 ``tiles``.

    Tiles are cut at ``params.tile`` px and resized to the classifier's ``input_size`` when that differs.
    """
    size = tuple(classifier.input_size)
    if size != (params.tile, params.tile):
        from ..arrays.resize import resize_image

        tiles = np.stack([resize_image(t, size) for t in tiles]) if len(tiles) else tiles
    return np.asarray(classifier.predict(tiles, batch_size=params.batch_size), dtype=np.float32)


def classify(tiles: np.ndarray, classifier, params: HybridParams):
    """Top class and its probability of each of (K, tile, tile, 3) uint8 ``tiles``: ((K,) int64, (K,) float32)."""
    probs = predict_tiles(tiles, classifier, params)
    return probs.argmax(axis=1).astype(np.int64), probs.max(axis=1)


def classify_tiles(image: np.ndarray, plan: WindowPlan, classifier, params: HybridParams):
    """Top class and its probability of each tile of ``plan``: ((K,) int64, (K,) float32)."""
    return classify(cut_windows(image, plan, mirror="reflect"), classifier, params)


def hybrid_probs(image: np.ndarray, classifier, params: HybridParams, refine_with_crf: bool = True) -> np.ndarray:
    """Per-class probabilities of the hybrid method over a whole image: (h, w, N) float32 on the CRF grid (the
    image's (H, W) times ``params.scale``), for a model's prior (``labelling.prior``).

    Each tile of the ``params.decim`` grid paints its class probabilities (all N, not only the top class) over its
    core; pixels under no tile are uniform. With ``refine_with_crf`` the hybrid's CRF (``params.crf_params()``)
    refines them and its marginals are returned; without, the painted tile probabilities.
    image : (H, W, 3) uint8 RGB, at least ``params.tile`` px in both directions.
    """
    from ..arrays.resize import resize_labels

    image = np.asarray(image)
    params.check_size(image.shape[:2])
    plan = tile_plan(image.shape[:2], params.tile, params.decim)
    probs = tile_probs(image, plan, classifier, params)
    n_classes = probs.shape[1]
    lookup = np.vstack([np.full((1, n_classes), 1.0 / n_classes, np.float32), probs])  # row 0: no tile
    index = paint_cores(plan, np.arange(1, len(plan) + 1), dtype=np.int32)
    grid = scaled_shape(image.shape[:2], params.scale)
    painted = lookup[resize_labels(index, grid)]
    if not refine_with_crf:
        return painted
    return crf_marginals(image, painted, params.crf_params())


def segment(image: np.ndarray, classifier, params: HybridParams) -> HybridResult:
    """Hybrid segmentation of one image (see the module doc).

    image : (H, W, 3) uint8 RGB, at least ``params.tile`` px in both directions.
    Returns a HybridResult whose maps are exactly (H, W).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    params.check_size((height, width))
    n_classes = int(classifier.n_classes)
    params.check_classes(n_classes)
    plan = tile_plan((height, width), params.tile, params.decim)
    tile_class, tile_prob = classify_tiles(image, plan, classifier, params)
    kept = tile_prob >= params.prob_thres
    log.debug("%d tiles classified, %d at or above PROB_THRES %.2f", len(plan), int(kept.sum()), params.prob_thres)
    if not kept.any():
        raise InputError(f"no tile reached PROB_THRES {params.prob_thres} (the best had {float(tile_prob.max()):.3f}); "
                         "lower PROB_THRES or DECIM")
    sparse = tile_map(plan, tile_class, kept)
    label_image, _ = refine(image, sparse, n_classes, params)
    return HybridResult(label_image, sparse, plan.origins, tile_class, tile_prob, kept)


def refine(image: np.ndarray, sparse: np.ndarray, n_classes: int,
           params: HybridParams) -> tuple[np.ndarray, np.ndarray]:
    """Dense CRF from a full-size tile map, run on the grid scaled by ``params.scale``: ((H, W) uint8 classes,
    (h, w, N) float32 CRF marginals on that grid).

    The tile map is brought to the CRF grid by nearest neighbour (tiles are at least MIN_TILE_ON_CRF_GRID px there),
    so no full-size (H, W, N) unary array is ever made.
    """
    from ..arrays.resize import resize_labels

    crf = params.crf_params()
    grid = scaled_shape(image.shape[:2], crf.scale)
    small = resize_labels(sparse, grid)
    unary = unary_from_sparse(small, n_classes, crf.gt_prob)
    return crf_from_probs(image, unary, crf)
