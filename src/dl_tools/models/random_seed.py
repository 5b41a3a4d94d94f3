"""One seed for every random generator that training draws from."""

from __future__ import annotations


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and TensorFlow's (``keras.utils.set_random_seed``), so a
    training run with the same seed draws the same initial weights, shuffles and augmentations."""
    import keras

    keras.utils.set_random_seed(seed)
