"""Reading any photograph a user has as (H, W, 3) uint8 RGB, and writing PNG/JPEG.

Conversion rules (``to_rgb_uint8``), applied to the bands picked by ``bands`` (1-based, default the first three):

- uint8: unchanged.
- bool: False -> 0, True -> 255.
- other integers (16-bit, 32-bit) whose values already lie in 0-255: cast unchanged.
- float whose values lie in [0, 1]: multiplied by 255.
- anything else (16-bit, 32-bit, float): a linear stretch from the 1st to the 99th percentile of all chosen
  bands together (so colour balance is kept), clipped to 0-255. Never a wrap-around cast. NaN become 0.
- one band (grey): replicated to three channels; two bands: the first, replicated.
- RGBA: alpha dropped. More than three bands: the first three, unless ``bands`` picks others.

TIFF files are read with rasterio (any number of bands, any data type); other files with OpenCV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from .atomic import atomic_path

#: File extensions (lower case) of the images DL tools reads; the case of a file's extension does not matter.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
TIFF_EXTENSIONS = (".tif", ".tiff")
STRETCH_PERCENTILES = (1.0, 99.0)


def is_image_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file whose extension (any case) is a supported image type."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def check_input_dir(folder: str | os.PathLike, flag: str, fix: str) -> Path:
    """Return ``folder`` as a Path; InputError naming ``flag`` (and ending with ``fix``) unless it is an existing
    folder: the message says whether it is missing or a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{flag}: {folder} is a file, not a folder; {fix}")
    if not folder.is_dir():
        raise InputError(f"{flag}: folder {folder} does not exist; {fix}")
    return folder


def list_images(folder: str | os.PathLike, flag: str = "--input") -> list[Path]:
    """Sorted image files directly inside ``folder`` (any case of extension; other files ignored).

    Raises InputError naming ``flag`` when the folder does not exist (or is a file) or holds no image.
    """
    folder = check_input_dir(folder, flag, "give a folder of images")
    images = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not images:
        raise InputError(
            f"{flag}: no images in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)} in any case); "
            "give the folder that holds the photographs"
        )
    return images


def find_images(folder: str | os.PathLike, stem: str) -> list[Path]:
    """The images in ``folder`` whose name without extension is exactly ``stem`` (any supported type), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.stem == stem and is_image_file(p))


def find_image(folder: str | os.PathLike, stem: str) -> Path | None:
    """The first of ``find_images(folder, stem)``, or None."""
    matches = find_images(folder, stem)
    return matches[0] if matches else None


def _select_bands(array: np.ndarray, bands: Sequence[int] | None, path) -> np.ndarray:
    """(H, W, B) array -> (H, W, 3) array of the chosen bands (1-based indices)."""
    n_bands = array.shape[2]
    if bands is None:
        if n_bands >= 3:
            return array[:, :, :3]
        return np.repeat(array[:, :, :1], 3, axis=2)
    bands = list(bands)
    if len(bands) not in (1, 3) or not all(1 <= b <= n_bands for b in bands):
        raise InputError(
            f"--bands {','.join(map(str, bands))} does not fit {path}, which has {n_bands} bands; "
            f"give one or three band numbers between 1 and {n_bands}, e.g. --bands 3,2,1"
        )
    chosen = array[:, :, [b - 1 for b in bands]]
    return np.repeat(chosen, 3, axis=2) if len(bands) == 1 else chosen


def to_rgb_uint8(array: np.ndarray, bands: Sequence[int] | None = None, path: str = "image") -> np.ndarray:
    """Convert an (H, W) or (H, W, B) array of any dtype to (H, W, 3) uint8 by the rules in the module doc."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{path} has shape {array.shape}, not an image; give a 2-D image file")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    array = _select_bands(array, bands, path)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(array.shape, dtype=np.uint8)
    lo, hi = float(values[finite].min()), float(values[finite].max())
    if np.issubdtype(array.dtype, np.integer) and lo >= 0 and hi <= 255:
        scaled = values
    elif np.issubdtype(array.dtype, np.floating) and lo >= 0 and hi <= 1:
        scaled = values * 255.0
    else:
        p_lo, p_hi = np.percentile(values[finite], STRETCH_PERCENTILES)
        if p_hi <= p_lo:
            p_lo, p_hi = lo, max(hi, lo + 1e-12)
        scaled = (values - p_lo) / (p_hi - p_lo) * 255.0
    scaled = np.where(finite, scaled, 0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


#: The end of the message about an image file that cannot be read, unless the caller knows a better fix.
READ_FIX = "give a JPG, PNG, TIFF or BMP file"


def _check_image_path(path: Path) -> None:
    """InputError naming ``path`` when it is missing or a folder."""
    if path.is_dir():
        raise InputError(f"image {path} is a folder, not a file; give the path of an image file")
    if not path.is_file():
        raise InputError(f"image {path} does not exist; check the path")


def read_raw(path: str | os.PathLike, fix: str = READ_FIX) -> np.ndarray:
    """Read an image file as stored: (H, W) or (H, W, B) in its own dtype, colour bands in RGB(A) order.
    InputError naming the file when it is missing, a folder or unreadable (the last ending with ``fix``)."""
    path = Path(path)
    _check_image_path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        from .geotiff import read_raster

        return read_raster(path, fix)[0]
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode also works for non-ASCII paths
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise InputError(f"{path} is not a readable image (it may be damaged or misnamed); {fix}")
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[:, :, ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(array)


def image_shape(path: str | os.PathLike, fix: str = "remove it or give a JPG, PNG, TIFF or BMP file") -> tuple[int, int]:
    """(rows, columns) of an image file from its header alone (fast: nothing is decoded), so a folder of images can
    be checked before any work starts. InputError naming the file and ``fix`` when it is missing or unreadable."""
    path = Path(path)
    _check_image_path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        from .geotiff import raster_shape

        return raster_shape(path, fix)
    from PIL import Image  # pillow comes with matplotlib

    Image.MAX_IMAGE_PIXELS = None  # big orthomosaics are normal input here, not a decompression bomb
    try:
        with Image.open(path) as image:
            return image.size[1], image.size[0]
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable image ({exc}); {fix}") from exc


def read_image(path: str | os.PathLike, bands: Sequence[int] | None = None) -> np.ndarray:
    """Read any supported image file as (H, W, 3) uint8 RGB (see the module doc for the conversion)."""
    return to_rgb_uint8(read_raw(path), bands=bands, path=str(path))


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write (H, W, 3) uint8 RGB or (H, W) uint8 grey as PNG or JPEG (by extension), atomically."""
    import cv2

    path = Path(path)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"write_image needs uint8 data, got {image.dtype}")
    if image.ndim == 3:
        image = image[:, :, ::-1]
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif suffix == ".png":
        params = []
    else:
        raise ValueError(f"write_image writes .png or .jpg, not {path.suffix!r}")
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), params)
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        encoded.tofile(str(tmp))
    return path


def resize_labels(label_image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (h, w) integer class map to ``shape`` = (H, W); values are never rescaled."""
    import cv2

    label_image = np.asarray(label_image)
    if label_image.shape[:2] == tuple(shape):
        return label_image.copy()
    resized = cv2.resize(
        label_image.astype(np.int32) if label_image.dtype not in (np.uint8, np.uint16, np.int16) else label_image,
        (int(shape[1]), int(shape[0])),
        interpolation=cv2.INTER_NEAREST,
    )
    return resized.astype(label_image.dtype, copy=False)


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area/linear resize of an (H, W, C) image to ``shape`` = (h, w), keeping its dtype."""
    import cv2

    image = np.asarray(image)
    if image.shape[:2] == tuple(shape):
        return image.copy()
    shrinking = shape[0] < image.shape[0]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (int(shape[1]), int(shape[0])), interpolation=interp)
