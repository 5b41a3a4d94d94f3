"""Label ``.mat`` files (MATLAB v5, as scipy writes them): the manual ``*_mres.mat`` and automatic ``*_ares*.mat``.

Variables (reference/legacy_behaviour.md section 1.2):

- ``class``  (H, W) 0-based class index per pixel. Required.
- ``sparse`` (H, W) strokes or tile predictions: 0 = none, k = class k-1. Optional (absent in old CCR files).
- ``labels`` class names. Legacy files hold a space-padded char matrix, a cell array, or (the 2020 labeller)
  a 1x1 struct whose field names are the classes. Required.
- ``preds``  (h, w, N) per-class probabilities, possibly on a smaller grid than ``class``. Optional.
- ``nodata`` (H, W) 1 where the labelled image has no data (a GeoTIFF's no-data value, NaN, alpha band or mask),
  0 elsewhere; ``class`` still holds a class there, as legacy readers expect one everywhere. DL tools' own addition,
  written only when some pixel has no data; test_pixels.py leaves those pixels unscored. Optional.
- ``provenance`` a char string: the JSON provenance record of the file (``dl_tools.provenance_record``), which
  legacy readers ignore. DL tools' own addition. Optional; one that does not parse is left out with a warning.

Files written here use uint8 (or uint16 beyond 255 classes) maps, float32 probabilities and compression, and are
written atomically. Their ``labels`` char matrix is read back with trailing padding removed (inner spaces kept).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..provenance_record import parse_record, record_json
from ..terminal import count
from .atomic import atomic_path, check_can_write
from .text import check_class_names

#: The variable holding the provenance record (module doc).
PROVENANCE_VARIABLE = "provenance"


@dataclass
class LabelFile:
    """The content of a label ``.mat`` file.

    label_image : (H, W) integer, 0-based class index per pixel (the ``class`` variable).
    labels      : class names, index = class index.
    sparse      : (H, W) integer or None; 0 = none, k = class k-1.
    probs       : (h, w, N) float32 or None; per-class probabilities, possibly on a coarser grid.
    nodata      : (H, W) bool or None; True where the image has no data (None: every pixel has data).
    provenance  : the provenance record (dict) or None.
    extra       : any other variables, by name (e.g. ``user``, a string: who labelled the image); legacy readers
                  ignore them.
    """

    label_image: np.ndarray
    labels: list[str]
    sparse: np.ndarray | None = None
    probs: np.ndarray | None = None
    nodata: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    provenance: dict | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the class map."""
        return tuple(self.label_image.shape[:2])


def _labels_from_mat(value, path: Path) -> list[str]:
    """Class names from any legacy form of the ``labels`` variable."""
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, np.ndarray) and value.dtype.names:  # 1x1 struct: field names are the classes
        names = list(value.dtype.names)
    elif isinstance(value, np.ndarray) and value.dtype.kind in "US":  # char matrix: one padded row per name
        names = [str(v) for v in value.ravel()]
    elif isinstance(value, np.ndarray) and value.dtype == object:  # cell array of strings
        names = [str(np.asarray(v).ravel()[0]) if np.asarray(v).size else "" for v in value.ravel()]
    else:
        raise InputError(f"{path}: variable 'labels' has an unknown form ({type(value).__name__}); "
                         "it should hold the class names")
    names = [name.rstrip() for name in names]
    return check_class_names(names, f"{path} (variable 'labels')")


def _as_class_map(array: np.ndarray, name: str, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise InputError(f"{path}: variable {name!r} has shape {array.shape}; it must be a 2-D map")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise InputError(f"{path}: variable {name!r} must hold whole class numbers")
    if array.size and array.min() < 0:
        raise InputError(f"{path}: variable {name!r} holds negative values; class indices start at 0")
    return array.astype(np.int64 if array.size and array.max() > 65535 else _compact_dtype(int(array.max(initial=0))))


def _compact_dtype(max_value: int):
    return np.uint8 if max_value <= 255 else np.uint16


def read_label_mat(path: str | os.PathLike, strokes: bool = False) -> LabelFile:
    """Read a label ``.mat`` file of any legacy variant (see module doc).

    strokes : the caller uses the strokes (``sparse``): one of another size than ``class`` (kept as None
              otherwise: legacy files may hold another grid there) or holding a value above the number of classes
              is an error.
    """
    path = Path(path)
    data = _load(path, squeeze_me=False)
    if "class" not in data:
        raise InputError(f"{path} has no variable 'class' (the class of each pixel); "
                         "it is not a DL tools label file: make one with create_groundtruth/label_1image_crf.py")
    if "labels" not in data:
        raise InputError(f"{path} has no variable 'labels' (the class names); it is not a DL tools label file")
    labels = _labels_from_mat(data["labels"], path)
    label_image = _as_class_map(data["class"], "class", path)
    given = f"{count(len(labels), 'class name')} {'is' if len(labels) == 1 else 'are'} given in 'labels'"
    if label_image.size and int(label_image.max()) >= len(labels):
        raise InputError(f"{path}: 'class' holds value {int(label_image.max())} but only {given}")
    sparse = data.get("sparse")
    if sparse is not None:
        sparse = _as_class_map(sparse, "sparse", path)
        if strokes and sparse.size and sparse.shape != label_image.shape:
            raise InputError(f"{path}: its strokes ('sparse', {sparse.shape[1]} x {sparse.shape[0]} px) and its "
                             f"labels ('class', {label_image.shape[1]} x {label_image.shape[0]} px) differ in "
                             "size; give a label file made by create_groundtruth/label_1image_crf.py")
        if strokes and sparse.size and int(sparse.max()) > len(labels):
            raise InputError(f"{path}: its strokes ('sparse') hold value {int(sparse.max())} but only {given} "
                             f"(values must be 0 = none or 1..{len(labels)}); "
                             "give a label file made by create_groundtruth/label_1image_crf.py")
        if sparse.shape != label_image.shape:
            sparse = None  # legacy files may store a downscaled or empty sparse map; it is informative only
    probs = data.get("preds")
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float32)
        if probs.ndim == 2:
            probs = probs[:, :, None]
    nodata = data.get("nodata")
    if nodata is not None:
        nodata = np.asarray(nodata) != 0
        if nodata.shape != label_image.shape:
            raise InputError(f"{path}: its no-data mask ('nodata', {nodata.shape[1]} x {nodata.shape[0]} px) and its "
                             f"labels ('class', {label_image.shape[1]} x {label_image.shape[0]} px) differ in size; "
                             "the file is damaged: label the image again")
    known = ("class", "labels", "sparse", "preds", "nodata", PROVENANCE_VARIABLE)
    extra = {k: v for k, v in data.items() if not k.startswith("__") and k not in known}
    return LabelFile(label_image=label_image, labels=labels, sparse=sparse, probs=probs,
                     nodata=nodata if nodata is not None and nodata.any() else None, extra=extra,
                     provenance=mat_record(data.get(PROVENANCE_VARIABLE), path))


def mat_record(value, path: Path) -> dict | None:
    """The provenance record of a ``provenance`` variable as loadmat returns it (None when absent; None with a
    warning when it does not parse)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else "".join(str(v) for v in np.asarray(value).ravel())
    return parse_record(text, f"{path} (variable {PROVENANCE_VARIABLE!r})")


def read_mat_record(path: str | os.PathLike) -> dict | None:
    """The provenance record of a ``.mat`` file, reading that variable only; None when it holds none."""
    path = Path(path)
    return mat_record(_load(path, variable_names=[PROVENANCE_VARIABLE]).get(PROVENANCE_VARIABLE), path)


def _load(path: Path, **options) -> dict:
    """``scipy.io.loadmat(path, chars_as_strings=True, **options)``; InputError naming a missing, folder or damaged
    file."""
    import zlib

    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    if path.is_dir():
        raise InputError(f"label file {path} is a folder, not a file; give the path of a .mat file")
    if not path.is_file():
        raise InputError(f"label file {path} does not exist; check the path")
    try:
        return loadmat(path, chars_as_strings=True, **options)
    except (MatReadError, ValueError, OSError, IndexError, TypeError, EOFError, zlib.error) as exc:  # damaged
        raise InputError(f"{path} is not a readable MATLAB .mat file ({exc}); it may be damaged: "
                         "replace it with a good copy") from exc


def write_label_mat(path: str | os.PathLike, label_file: LabelFile, overwrite: bool = True) -> Path:
    """Write ``label_file`` as a compressed MAT v5 file that legacy scripts can read, atomically.

    Raises InputError when the file exists and ``overwrite`` is false.
    """
    from scipy.io import savemat

    path = check_can_write(path, overwrite)
    n = len(label_file.labels)
    check_class_names(list(label_file.labels), f"labels for {path}")
    label_image = np.asarray(label_file.label_image)
    if label_image.ndim != 2:
        raise ValueError(f"label_image must be (H, W), got {label_image.shape}")
    if label_image.size and (label_image.min() < 0 or label_image.max() >= n):
        raise ValueError(f"label_image values must lie in 0..{n - 1}")
    variables = {
        "class": label_image.astype(_compact_dtype(n - 1)),
        "labels": list(label_file.labels),  # savemat stores a space-padded char matrix, as the legacy did
    }
    if label_file.sparse is not None:
        sparse = np.asarray(label_file.sparse)
        if sparse.shape != label_image.shape:
            raise ValueError(f"sparse {sparse.shape} must have the shape of label_image {label_image.shape}")
        variables["sparse"] = sparse.astype(_compact_dtype(n))
    if label_file.probs is not None:
        variables["preds"] = np.asarray(label_file.probs, dtype=np.float32)
    if label_file.nodata is not None and np.any(label_file.nodata):
        nodata = np.asarray(label_file.nodata, dtype=bool)
        if nodata.shape != label_image.shape:
            raise ValueError(f"nodata {nodata.shape} must have the shape of label_image {label_image.shape}")
        variables["nodata"] = nodata.astype(np.uint8)
    if label_file.provenance is not None:
        variables[PROVENANCE_VARIABLE] = record_json(label_file.provenance)
    clash = set(label_file.extra) & {"class", "labels", "sparse", "preds", "nodata", PROVENANCE_VARIABLE}
    if clash:
        raise ValueError(f"extra variables {sorted(clash)} would replace the label file's own")
    variables.update(label_file.extra)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            savemat(handle, variables, do_compression=True, oned_as="column")
    return path
