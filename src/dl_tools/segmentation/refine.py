"""Refining a network's per-class probabilities with the dense CRF, with three safeguards: the probabilities
calibrated (a temperature) before they become the CRF's unary, the pixels the network is sure of left as the
network has them (a gate), and the CRF's class taken only where the CRF itself is sure (``accept``: elsewhere the
network's class stays). Measured over folds of the demo photographs (docs/benchmarks.md), the last one does most:
the CRF's gains on the large classes come from the pixels it is sure of, and its losses (thin regions of a small
class smoothed away) mostly from the pixels it is not.

``Refinement`` holds them together; ``refine`` applies them to one image. Step 8's ``infer_crf.py`` uses the
refinement chosen for its run on the run's validation images (``workflows.crf_choice``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..arrays.resize import resize_image
from ..errors import InputError
from .calibration import TEMPERATURE_RANGE, apply_temperature, gate_confident
from .crf import CRFParams, crf_from_probs, scaled_shape, upsample_argmax

#: a gate no probability reaches: the CRF's result is kept at every pixel
NO_GATE = 1.0 + 1e-6


@dataclass(frozen=True)
class Refinement:
    """How the CRF refines a network's probabilities.

    crf         : the CRF's kernels, iterations and grid scale (``CRFParams``; distances in pixels of the CRF grid).
    temperature : the network's probabilities become ``softmax(log p / temperature)`` before the CRF (1 = as they
                  are; > 1 softens an over-confident network).
    gate        : pixels whose network probability of its top class is at least this keep the network's class
                  (1 or more: no such gate).
    accept      : the CRF's class replaces the network's only at pixels where the CRF's top marginal is at least
                  this (0: everywhere).
    changes     : the (network's class, CRF's class) pairs, 0-based, of the changes of class the CRF may make;
                  at any other pixel where the two differ the network's class stays. None: every change.
    """

    crf: CRFParams
    temperature: float = 1.0
    gate: float = NO_GATE
    accept: float = 0.0
    changes: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self):
        low, high = TEMPERATURE_RANGE
        if not low <= self.temperature <= high:
            raise InputError(f"--crf-temperature must be between {low:g} and {high:g}, got {self.temperature}")
        if not 0.0 < self.gate:
            raise InputError(f"--crf-gate must be a probability in (0, 1] (1 = no gate), got {self.gate}")
        if not 0.0 <= self.accept <= 1.0:
            raise InputError(f"--crf-accept must be a probability in [0, 1] (0 = the CRF everywhere), "
                             f"got {self.accept}")
        if self.changes is not None:
            if any(len(pair) != 2 or any(int(k) != k for k in pair) for pair in self.changes):
                raise InputError(f"a CRF change of class is a pair of two class numbers, got {self.changes}")
            object.__setattr__(self, "changes", tuple(sorted((int(a), int(b)) for a, b in self.changes)))
            if any(a == b or min(a, b) < 0 for a, b in self.changes):
                raise InputError(f"a CRF change of class is a pair of two different classes, got {self.changes}")

    @property
    def gated(self) -> bool:
        return self.gate <= 1.0

    def record(self) -> dict:
        """A plain dict of the settings (for a run's settings.json and provenance)."""
        return {"crf": asdict(self.crf), "temperature": self.temperature,
                "gate": min(self.gate, 1.0) if self.gated else None, "accept": self.accept,
                "changes": None if self.changes is None else [list(pair) for pair in self.changes]}

    @classmethod
    def from_record(cls, record: dict) -> Refinement:
        """The Refinement of ``record`` (``Refinement.record``)."""
        gate, changes = record.get("gate"), record.get("changes")
        return cls(CRFParams(**record["crf"]), float(record.get("temperature", 1.0)),
                   NO_GATE if gate is None else float(gate), float(record.get("accept", 0.0)),
                   None if changes is None else tuple(tuple(pair) for pair in changes))

    def allowed(self, n_classes: int) -> np.ndarray:
        """(N, N) bool: [a, b] is True when the CRF may turn the network's class a into b (the diagonal always)."""
        allowed = np.eye(n_classes, dtype=bool) | (self.changes is None)
        for a, b in self.changes or ():
            if max(a, b) >= n_classes:
                raise InputError(f"the CRF's change of class {a} -> {b} names a class the network does not have "
                                 f"({n_classes} classes)")
            allowed[a, b] = True
        return allowed


def refine(image: np.ndarray, probs: np.ndarray, refinement: Refinement) -> tuple[np.ndarray, np.ndarray]:
    """The network's probabilities refined by the CRF.

    image : (H, W, 3) uint8 RGB.
    probs : (h, w, N) float probabilities of the network, on its own grid (or on the image's).
    Returns (label_image (H, W) uint8/uint16 0-based, probabilities (h', w', N) float32 on the CRF grid, the image
    times ``refinement.crf.scale``): the CRF's marginals, or the network's own (resized) probabilities at the pixels
    the gate keeps or the CRF is not sure of. Where the CRF's class is a change ``refinement.changes`` does not
    allow, the network's class (of its probabilities resized to (H, W)) and its probabilities stay.
    """
    return refine_from_crf(image, probs, refinement, *run_crf(image, probs, refinement))


def run_crf(image: np.ndarray, probs: np.ndarray, refinement: Refinement) -> tuple[np.ndarray, np.ndarray]:
    """The CRF's own (label_image (H, W), marginals (h', w', N)) of ``refine``: its kernels on the network's
    probabilities at ``refinement.temperature``; the gate, acceptance and changes of class are not applied yet
    (``refine_from_crf``), so refinements that differ only in those can share one CRF run."""
    unary = apply_temperature(probs, refinement.temperature) if refinement.temperature != 1.0 else probs
    return crf_from_probs(image, unary, refinement.crf)


def refine_from_crf(image: np.ndarray, probs: np.ndarray, refinement: Refinement, label_image: np.ndarray,
                    marginals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``refine``'s result from the CRF run ``run_crf`` made with the kernels and temperature of ``refinement``:
    its gate, acceptance and changes of class applied."""
    if not refinement.gated and refinement.accept <= 0.0:
        return _allowed_changes(label_image, marginals, probs, refinement)
    grid = scaled_shape(image.shape[:2], refinement.crf.scale)
    network = np.asarray(probs, dtype=np.float32)
    network = resize_image(network, grid) if network.shape[:2] != grid else network
    if network.ndim == 2:  # cv2 drops a single channel
        network = network[:, :, None]
    kept = np.where(marginals.max(axis=2, keepdims=True) >= refinement.accept, marginals, network)
    if refinement.gated:
        kept = gate_confident(network, kept, refinement.gate)
    return _allowed_changes(upsample_argmax(kept, image.shape[:2]), kept, probs, refinement)


def _allowed_changes(label_image: np.ndarray, kept: np.ndarray, probs: np.ndarray,
                     refinement: Refinement) -> tuple[np.ndarray, np.ndarray]:
    """``refine``'s (labels (H, W), probabilities (h', w', N)) with the changes of class ``refinement.changes``
    does not allow undone: there the network's class, and its probabilities on the CRF grid."""
    if refinement.changes is None:
        return label_image, kept
    allowed = refinement.allowed(kept.shape[2])
    network = np.asarray(probs, dtype=np.float32)
    full = upsample_argmax(network, label_image.shape)
    label_image = np.where(allowed[full, label_image], label_image, full).astype(label_image.dtype)
    on_grid = resize_image(network, kept.shape[:2]) if network.shape[:2] != kept.shape[:2] else network
    on_grid = on_grid[:, :, None] if on_grid.ndim == 2 else on_grid
    undone = ~allowed[np.argmax(on_grid, axis=2), np.argmax(kept, axis=2)]
    return label_image, np.where(undone[:, :, None], on_grid, kept).astype(np.float32)


@dataclass(frozen=True)
class CRFChoice:
    """What the CRF did on a run's validation images, and the refinement chosen from it.

    refinement       : the candidate of highest validation mean IoU, or None when none beat the network alone by
                       ``min_gain``: then infer_crf.py keeps the network's labels.
    network_mean_iou : validation mean IoU of the network alone (all validation pixels pooled).
    best_mean_iou    : that of the best candidate (chosen or not).
    n_images         : validation images scored; n_candidates: refinements tried; min_gain: the margin required.
    """

    refinement: Refinement | None
    network_mean_iou: float
    best_mean_iou: float
    n_images: int
    n_candidates: int
    min_gain: float

    @property
    def gain(self) -> float:
        """Validation mean IoU of the chosen refinement minus the network's (0 when the network alone is kept)."""
        return self.best_mean_iou - self.network_mean_iou if self.refinement is not None else 0.0

    def summary(self) -> str:
        """One sentence for the user: what the CRF gained on validation and what is used."""
        best = self.best_mean_iou - self.network_mean_iou
        seen = (f"on the run's {self.n_images} validation images the best of {self.n_candidates} CRF settings "
                f"{'gained' if best >= 0 else 'lost'} {best:+.3f} mean IoU ({self.network_mean_iou:.3f} -> "
                f"{self.best_mean_iou:.3f})")
        if self.refinement is None:
            return f"{seen}, not more than the {self.min_gain:.3f} required: the network's labels are kept"
        return seen

    def record(self) -> dict:
        """A plain dict (settings.json's ``crf_choice``)."""
        return {"refinement": self.refinement.record() if self.refinement else None,
                "network_mean_iou": self.network_mean_iou, "best_mean_iou": self.best_mean_iou,
                "n_images": self.n_images, "n_candidates": self.n_candidates, "min_gain": self.min_gain}

    @classmethod
    def from_record(cls, record: dict) -> CRFChoice:
        """The CRFChoice of ``record`` (``CRFChoice.record``)."""
        refinement = record.get("refinement")
        return cls(Refinement.from_record(refinement) if refinement else None, float(record["network_mean_iou"]),
                   float(record["best_mean_iou"]), int(record["n_images"]), int(record["n_candidates"]),
                   float(record["min_gain"]))
