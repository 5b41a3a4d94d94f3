"""The retrained classifier head: one dense layer + softmax on module outputs, trained by plain SGD.

As the legacy retrain: weights drawn from a truncated normal (sigma 0.001), zero bias, mean sparse cross-entropy,
plain stochastic gradient descent on class-balanced batches (a class drawn uniformly, then one of its images).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Head:
    """weights (D, N) float32 and bias (N,) float32 of the softmax layer."""

    weights: np.ndarray
    bias: np.ndarray

    def probs(self, features: np.ndarray) -> np.ndarray:
        """(B, D) features -> (B, N) float32 softmax probabilities (numpy)."""
        logits = np.asarray(features, np.float32) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def tf_probs(self, features):
        """The same on TensorFlow tensors (for export into a frozen graph)."""
        import tensorflow as tf

        return tf.nn.softmax(tf.matmul(features, tf.constant(self.weights)) + tf.constant(self.bias))


def balanced_batch(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``size`` samples drawn with replacement: a class uniformly among those present, then a sample of
    it uniformly. ``y``: (n,) class index of each sample."""
    order = np.argsort(y, kind="stable")
    _, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
    picked = rng.integers(len(starts), size=size)
    within = np.minimum((rng.random(size) * counts[picked]).astype(np.int64), counts[picked] - 1)
    return order[starts[picked] + within].astype(np.int64)


@dataclass
class TrainLog:
    """Per evaluation step: step, train accuracy and cross-entropy (last batch), validation accuracy and loss."""

    rows: list[dict] = field(default_factory=list)


def train_head(sample_batch: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]], dim: int,
               n_classes: int, steps: int, learning_rate: float, seed: int = 0, eval_every: int = 10,
               evaluate: Callable[[Head], tuple[float, float]] | None = None,
               on_eval: Callable[[dict], None] | None = None, progress=None, snapshot_every: int = 0,
               on_snapshot: Callable[[int, Head], None] | None = None) -> tuple[Head, TrainLog]:
    """Train a softmax head for ``steps`` SGD steps.

    sample_batch(rng) -> (features (B, D) float32, y (B,) int): one training batch.
    evaluate(head) -> (validation accuracy, validation cross-entropy), called every ``eval_every`` steps and at
    the end; ``on_eval(row)`` receives each logged row (e.g. to write TensorBoard scalars).
    on_snapshot(step, head) is called every ``snapshot_every`` steps (0: never), e.g. to store intermediate models.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    init = tf.random.stateless_truncated_normal((dim, n_classes), seed=[seed, 1], stddev=0.001)
    weights = tf.Variable(init, name="final_weights")
    bias = tf.Variable(tf.zeros((n_classes,)), name="final_biases")

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = tf.matmul(x, weights) + bias
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grad_w, grad_b = tape.gradient(loss, [weights, bias])
        weights.assign_sub(learning_rate * grad_w)
        bias.assign_sub(learning_rate * grad_b)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=y.dtype), y), tf.float32))
        return loss, accuracy

    log = TrainLog()
    steps_iter = range(1, steps + 1) if progress is None else progress(range(1, steps + 1))
    for i in steps_iter:
        x, y = sample_batch(rng)
        loss, accuracy = step(tf.constant(x, tf.float32), tf.constant(y, tf.int64))
        if i % eval_every == 0 or i == steps:
            row = {"step": i, "train_accuracy": float(accuracy), "cross_entropy": float(loss)}
            if evaluate is not None:
                head = Head(weights.numpy(), bias.numpy())
                row["validation_accuracy"], row["validation_cross_entropy"] = evaluate(head)
            log.rows.append(row)
            if on_eval is not None:
                on_eval(row)
        if snapshot_every and on_snapshot is not None and i % snapshot_every == 0:
            on_snapshot(i, Head(weights.numpy(), bias.numpy()))
    return Head(weights.numpy(), bias.numpy()), log


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of (B, N) probabilities against (B,) true class indices."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


def distort(images: np.ndarray, rng: np.random.Generator, flip: bool = False, crop: float = 0.0,
            scale: float = 0.0, brightness: float = 0.0) -> np.ndarray:
    """Random distortions of (B, h, w, 3) float32 images in [0, 1] (the legacy's, as percentages):
    enlarge by (1 + crop/100) * U(1, 1 + scale/100), crop back to (h, w) at a random place, flip left-right with
    probability 1/2 when ``flip``, multiply by U(1 - brightness/100, 1 + brightness/100). Returns float32 [0, 1]."""
    import cv2

    out = np.empty_like(images, dtype=np.float32)
    height, width = images.shape[1:3]
    for i, image in enumerate(images):
        factor = (1.0 + crop / 100.0) * rng.uniform(1.0, 1.0 + scale / 100.0)
        if factor > 1.0:
            big_h, big_w = max(height, round(height * factor)), max(width, round(width * factor))
            big = cv2.resize(image, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
            top, left = rng.integers(0, big_h - height + 1), rng.integers(0, big_w - width + 1)
            image = big[top:top + height, left:left + width]
        if flip and rng.random() < 0.5:
            image = image[:, ::-1]
        if brightness:
            image = image * rng.uniform(1.0 - brightness / 100.0, 1.0 + brightness / 100.0)
        out[i] = np.clip(image, 0.0, 1.0)
    return out
