"""Reading any photograph a user has as (H, W, 3) uint8 RGB, and writing PNG/JPEG.

Pixel values are converted by ``dl_tools.arrays.color.to_rgb_uint8`` (its docstring gives the rules).

TIFF files are read with rasterio (any number of bands, any data type); other files with OpenCV.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..arrays.color import to_rgb_uint8
from ..errors import InputError
from ..file_contract import IMAGE_EXTENSIONS, TIFF_EXTENSIONS
from .atomic import atomic_path, is_temporary_name



def is_image_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file whose extension (any case) is a supported image type, and not a temporary file
    of a writer (``io.atomic.is_temporary_name``: one still being written, or left by an interrupted run)."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not is_temporary_name(path)


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
