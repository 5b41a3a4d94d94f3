"""Synthetic data for the tile tests (steps 3-5): a tiny TF-Hub-format module, class folders of coloured tiles,
labelled images. Never the real ImageNet weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_SIZE = 32
COLORS = {"Blue Water": (40, 60, 200), "dry_land": (200, 170, 90), "veg": (40, 170, 50)}


def tiny_backbone(size: int, seed: int = 0, channels: int = 16):
    """A small random conv net (three strided 3x3 conv + ReLU layers), the fastest stand-in for a backbone.

    Input: (B, size, size, 3) float32 in [-1, 1]. Output: (B, ceil(size/8), ceil(size/8), ``channels``) float32.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = inputs
    for k in range(3):
        x = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu", name=f"tiny_conv{k}")(x)
    return keras.Model(inputs, x, name="tiny_backbone")


def make_tiny_module(path: Path, size: int = TINY_SIZE) -> Path:
    """A random-weights three-layer conv net saved as a TF-Hub-format module at ``size`` px."""
    from dl_tools.models.hub import save_feature_module

    return save_feature_module(tiny_backbone(size, seed=0), path, (size, size))


def noisy_tile(color, size: int, rng) -> np.ndarray:
    return np.clip(np.asarray(color) + rng.normal(0, 15, (size, size, 3)), 0, 255).astype(np.uint8)


def make_color_tiles(root: Path, n: int = 24, size: int = TINY_SIZE, colors=COLORS, seed: int = 0) -> Path:
    """root/<class>/<class>_<i>.jpg: n noisy tiles of each colour; plus a notes.txt per folder (not an image)."""
    from dl_tools.io.images import write_image

    rng = np.random.default_rng(seed)
    for name, color in colors.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "notes.txt").write_text("not an image\n")
        for i in range(n):
            write_image(folder / f"{name.replace(' ', '')}_{i}.jpg", noisy_tile(color, size, rng))
    return root
