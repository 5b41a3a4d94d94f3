"""Making a network's probabilities fit to be a CRF's unary, and keeping the CRF off the pixels the network is sure
of.

- ``fit_temperature``: the temperature T that makes ``softmax(log p / T)`` the best-calibrated probabilities on
  labelled pixels (lowest mean negative log-likelihood; Guo et al. 2017, "On calibration of modern neural networks").
  T > 1 softens an over-confident network, T < 1 sharpens an under-confident one.
- ``apply_temperature``: those probabilities for any image.
- ``gate_confident``: after the CRF, every pixel whose network probability of its top class reaches a threshold
  keeps the network's probabilities (so its class), and the CRF can only change the pixels the network hesitates
  over.
"""

from __future__ import annotations

import numpy as np

#: the range ``fit_temperature`` searches, as (lowest, highest) temperature
TEMPERATURE_RANGE = (0.05, 20.0)
#: probabilities are clipped to at least this before the logarithm
EPSILON = 1e-6


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """(..., N) probabilities -> (..., N) float32 ``softmax(log p / temperature)`` (rows sum to 1)."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float32), EPSILON, 1.0)) / np.float32(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def fit_temperature(probs: np.ndarray, truth: np.ndarray) -> float:
    """The temperature of lowest mean negative log-likelihood of ``truth`` under ``apply_temperature(probs, T)``.

    probs : (M, N) probabilities of M labelled pixels (e.g. a sample of a run's validation pixels).
    truth : (M,) their classes, 0..N-1.
    A one-dimensional bounded search over log T (scipy's ``minimize_scalar``) in ``TEMPERATURE_RANGE``.
    """
    from scipy.optimize import minimize_scalar

    probs = np.asarray(probs, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    if probs.ndim != 2 or truth.shape != probs.shape[:1] or not truth.size:
        raise ValueError(f"probs must be (M, N) and truth (M,), M > 0; got {probs.shape} and {truth.shape}")
    log_p = np.log(np.clip(probs, EPSILON, 1.0))
    rows = np.arange(truth.size)

    def nll(log_t: float) -> float:
        z = log_p / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, truth]))

    low, high = np.log(TEMPERATURE_RANGE)
    return float(np.exp(minimize_scalar(nll, bounds=(low, high), method="bounded",
                                        options={"xatol": 1e-4}).x))


def gate_confident(network_probs: np.ndarray, refined_probs: np.ndarray, threshold: float) -> np.ndarray:
    """(h, w, N) float32: ``refined_probs`` (e.g. the CRF's marginals), except at the pixels where the network's top
    probability in ``network_probs`` (h, w, N, on the same grid) is at least ``threshold``: there, the network's
    own probabilities, so their class is the network's. A threshold above 1 keeps every refined pixel."""
    network_probs = np.asarray(network_probs, dtype=np.float32)
    refined_probs = np.asarray(refined_probs, dtype=np.float32)
    if network_probs.shape != refined_probs.shape:
        raise ValueError(f"network_probs {network_probs.shape} and refined_probs {refined_probs.shape} differ")
    confident = network_probs.max(axis=2, keepdims=True) >= threshold
    return np.where(confident, network_probs, refined_probs)
