"""The labelling engine: image + brush strokes -> dense labels, with either engine of ``ENGINES``.

``"strokes"``: the legacy recipe (a unary straight from the strokes, then the dense CRF) with CRF settings chosen
by measurement, the default; ``"classifier"``: a per-image pixel classifier's probabilities as the CRF unary.
On the demo images the first is the more accurate and the faster (benchmarks/bench_labelling.py,
docs/benchmarks.md). Nothing near-black is taken for a stroke: strokes are class indices, never colours.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..segmentation.crf import CRFParams, check_strokes, crf_from_labels, crf_from_probs
from ..segmentation.pixel_classifier import ClassifierParams, classifier_probs

#: Names of the annotation engines of ``label_from_strokes``; the first is the default.
ENGINES = ("strokes", "classifier")


def default_crf_params(engine: str, scale: float) -> CRFParams:
    """The CRF settings each engine was measured with (benchmarks/bench_labelling.py).

    "strokes": the legacy labelling recipe with a narrower bilateral kernel and a wider colour tolerance
    (theta 30 px of the CRF grid, colour 5, compat 30, 30 iterations; legacy: 60, 1, 100), which is more accurate
    on the demo images (0.928 against 0.922 at -s 0.5, 2.5 times faster; see the README) and copes with noisy
    images (legacy colour 1 does not).
    "classifier": the classifier's probabilities are already good, so a gentler CRF cleans them up: a bilateral
    kernel of 60 full-size pixels (colour 13, compat 5), a 3-pixel smoothness kernel (compat 3), 10 iterations.
    """
    if engine == "strokes":
        return CRFParams(scale=scale, theta_bilateral=30.0, theta_color=5.0, compat_bilateral=30.0)
    return CRFParams(scale=scale, theta_bilateral=max(3.0, 60.0 * scale), theta_color=13.0, compat_bilateral=5.0,
                     theta_gaussian=3.0, compat_gaussian=3.0, n_iter=10)


def label_from_strokes(image: np.ndarray, sparse: np.ndarray, n_classes: int, params: CRFParams,
                       engine: str = ENGINES[0],
                       classifier: ClassifierParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The annotation engine: image + strokes -> dense labels.

    image  : (H, W, 3) uint8 RGB.  sparse : (H, W) strokes, 0 = none, k = class k-1.
    engine : ``"strokes"`` (the legacy recipe: unary straight from the strokes) or ``"classifier"``
             (pixel-classifier probabilities as the CRF unary).
    Returns (label_image (H, W) uint8 0-based, probs (h, w, N) float32 CRF marginals on the grid (H, W) times
    ``params.scale``). Stroke pixels keep their stroke's class in ``label_image``.
    """
    sparse = check_strokes(sparse, image.shape, n_classes)
    if engine == "strokes":
        label_image, marginals = crf_from_labels(image, sparse, n_classes, params)
    elif engine == "classifier":
        probs = classifier_probs(image, sparse, n_classes, classifier or ClassifierParams(), params.scale)
        label_image, marginals = crf_from_probs(image, probs, params)
    else:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    stroked = sparse > 0
    label_image[stroked] = sparse[stroked] - 1
    return label_image, marginals
