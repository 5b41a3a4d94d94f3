"""Reading any photograph a user has as (H, W, 3) uint8 RGB, and writing PNG/JPEG.

Pixel values are converted by ``dl_tools.arrays.color.to_rgb_uint8`` (its docstring gives the rules).

TIFF files are read with rasterio (any number of bands, any data type); other files with OpenCV, whose limit of
2**30 pixels per image (less than a 40000 x 30000 px orthomosaic) DL tools lifts (``_opencv``): big images are normal
input here. A decompression bomb (a header claiming 60000 x 60000 px before a few bytes of pixel data) is refused
first by its size (``MOST_PIXELS_PER_BYTE``): a decoder would give it all the pixels its header claims (JPEG: grey
ones; OpenCV, PIL and GDAL alike).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..arrays.color import to_rgb_uint8
from ..errors import InputError
from ..file_contract import IMAGE_EXTENSIONS, TIFF_EXTENSIONS
from .atomic import atomic_path, is_temporary_name

#: The environment variable from which OpenCV takes, once, when cv2 is imported, the most pixels it decodes in one
#: image (CV_IO_MAX_IMAGE_PIXELS).
OPENCV_MAX_PIXELS_VARIABLE = "OPENCV_IO_MAX_IMAGE_PIXELS"
#: OpenCV's own limit, kept for the formats without an entry in ``MOST_PIXELS_PER_BYTE``.
OPENCV_DEFAULT_MAX_PIXELS = 2**30
#: The limit ``_opencv`` gives OpenCV: none in practice (memory is the limit), as for PIL in ``image_shape``.
OPENCV_MAX_PIXELS = 2**40
#: The most pixels one byte of a file can describe, by format (PIL's name): PNG 8 x 1032 (1-bit pixels compressed at
#: deflate's best ratio, 1032:1), JPEG 8 x 64 (at least one bit for each 8 x 8 block of the full-resolution
#: component), BMP 128 (run-length encoding: 255 pixels in 2 bytes). A header claiming more is a damaged file or a
#: decompression bomb.
MOST_PIXELS_PER_BYTE = {"PNG": 8 * 1032, "JPEG": 8 * 64, "MPO": 8 * 64, "BMP": 128}


def _opencv():
    """cv2, with OpenCV's limit on the pixels of one image lifted to ``OPENCV_MAX_PIXELS`` when this is the first
    import of cv2 in the process and the user has not set ``OPENCV_MAX_PIXELS_VARIABLE``. The setting is the
    process's (OpenCV reads it at import only); when cv2 was imported before, its limit stays, and ``read_raw``
    names the variable for an image above it."""
    if "cv2" not in sys.modules:
        os.environ.setdefault(OPENCV_MAX_PIXELS_VARIABLE, str(OPENCV_MAX_PIXELS))
    import cv2

    return cv2


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
#: Why an image file that no decoder can read is unreadable, as far as DL tools can tell.
DAMAGED = "it may be damaged or misnamed"


def _check_image_path(path: Path) -> None:
    """InputError naming ``path`` when it is missing or a folder."""
    if path.is_dir():
        raise InputError(f"image {path} is a folder, not a file; give the path of an image file")
    if not path.is_file():
        raise InputError(f"image {path} does not exist; check the path")


def read_raw(path: str | os.PathLike, fix: str = READ_FIX) -> np.ndarray:
    """Read an image file as stored: (H, W) or (H, W, B) in its own dtype, colour bands in RGB(A) order.
    InputError naming the file when it is missing, a folder or unreadable (the last ending with ``fix``): no
    decodable pixel data, or a header (read first) that claims more pixels than the file can hold."""
    path = Path(path)
    _check_image_path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        from .geotiff import read_raster

        return read_raster(path, fix)[0]
    unreadable = f"{path} is not a readable image ({{}}); {fix}"
    problem = _header_problem(path)
    if problem:
        raise InputError(unreadable.format(problem))
    cv2 = _opencv()
    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode also works for non-ASCII paths
    try:
        array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV's pixel limit (cv2 was imported before _opencv), or no memory for the pixels
        raise InputError(unreadable.format(_opencv_reason(exc))) from exc
    if array is None:
        raise InputError(unreadable.format(DAMAGED))
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[:, :, ::-1]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(array)


def _header(path: Path) -> tuple[int, int, str]:
    """(rows, columns, format) of a non-TIFF image file from its header (PIL; nothing decoded). OSError or
    ValueError when the header cannot be read."""
    from PIL import Image  # pillow comes with matplotlib

    Image.MAX_IMAGE_PIXELS = None  # big orthomosaics are normal input here; bombs: ``_claim_too_big``
    with Image.open(path) as image:
        return image.size[1], image.size[0], image.format


def _header_problem(path: Path) -> str:
    """Why the header of a non-TIFF image file forbids decoding it, or "": unreadable, or claiming more pixels than
    the file can hold (``MOST_PIXELS_PER_BYTE``; OpenCV's own limit for the other formats)."""
    try:
        rows, cols, kind = _header(path)
    except (OSError, ValueError):
        return DAMAGED
    most = MOST_PIXELS_PER_BYTE.get(kind)
    claim = f"its header claims {cols} x {rows} px"
    if most is None and rows * cols > OPENCV_DEFAULT_MAX_PIXELS:
        return f"{claim}, more than DL tools decodes from a {kind} file ({OPENCV_DEFAULT_MAX_PIXELS} px)"
    n_bytes = path.stat().st_size
    if most is not None and rows * cols > most * n_bytes:
        return f"{claim}, more than {n_bytes} bytes of {kind} can hold: a damaged file or a decompression bomb"
    return ""


def _opencv_reason(exc) -> str:
    """Why OpenCV refused to decode an image, from its ``cv2.error``, for a message."""
    if "MAX_IMAGE_PIXELS" in exc.err:
        return (f"more pixels than OpenCV may decode in this process; for an image that big, set the environment "
                f"variable {OPENCV_MAX_PIXELS_VARIABLE} to a larger number before starting Python")
    return f"OpenCV: {exc.err}"


def image_shape(path: str | os.PathLike,
                fix: str = "remove it or give a JPG, PNG, TIFF or BMP file") -> tuple[int, int]:
    """(rows, columns) of an image file from its header alone (fast: nothing is decoded), so a folder of images can
    be checked before any work starts. InputError naming the file and ``fix`` when it is missing or unreadable."""
    path = Path(path)
    _check_image_path(path)
    if path.suffix.lower() in TIFF_EXTENSIONS:
        from .geotiff import raster_shape

        return raster_shape(path, fix)
    try:
        return _header(path)[:2]
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable image ({exc}); {fix}") from exc


def read_image(path: str | os.PathLike, bands: Sequence[int] | None = None) -> np.ndarray:
    """Read any supported image file as (H, W, 3) uint8 RGB (see the module doc for the conversion)."""
    return to_rgb_uint8(read_raw(path), bands=bands, path=str(path))


def encode_image(image: np.ndarray, suffix: str = ".png", quality: int = 95) -> bytes:
    """The bytes of a PNG or JPEG file (``suffix`` ".png", ".jpg" or ".jpeg") of (H, W, 3) uint8 RGB or (H, W) uint8
    grey."""
    cv2 = _opencv()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"write_image needs uint8 data, got {image.dtype}")
    if image.ndim == 3:
        image = image[:, :, ::-1]
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif suffix == ".png":
        params = []
    else:
        raise ValueError(f"write_image writes .png or .jpg, not {suffix!r}")
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), params)
    if not ok:
        raise OSError(f"could not encode a {suffix} image")
    return encoded.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write (H, W, 3) uint8 RGB or (H, W) uint8 grey as PNG or JPEG (by extension), atomically."""
    path = Path(path)
    encoded = encode_image(image, path.suffix, quality)
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded)
    return path
