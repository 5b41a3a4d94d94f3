"""Hostile image files for tests: a decompression bomb (a PNG whose header claims 60000 x 60000 px, followed by a
few bytes of pixel data), a genuine PNG of more pixels than OpenCV decodes by default, and a JPEG cut short."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

#: The most pixels OpenCV decodes in one image unless OPENCV_IO_MAX_IMAGE_PIXELS says otherwise (2**30).
OPENCV_DEFAULT_MAX_PIXELS = 2**30


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(path: Path, width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> Path:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
    return path


def png_bomb(path: Path, side: int = 60000) -> Path:
    """An 8-bit RGB PNG whose header claims ``side`` x ``side`` px (10.8 GB of pixels for 60000) and whose data hold
    four rows: a valid file of 778 bytes that no decoder can fill."""
    return _png(path, side, side, 8, 2, zlib.compress(b"\x00" * (1 + 3 * side) * 4, 9))


def jpeg_bomb(path: Path, side: int = 60000) -> Path:
    """A JPEG of 16 x 16 px whose header (SOF0) is rewritten to claim ``side`` x ``side`` px."""
    from dl_tools.io.images import write_image

    write_image(path, np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")  # marker, length (2 bytes), precision (1), height (2), width (2)
    data[sof + 5: sof + 9] = struct.pack(">HH", side, side)
    path.write_bytes(bytes(data))
    return path


def huge_png(path: Path) -> tuple[Path, tuple[int, int]]:
    """A genuine 1-bit grey PNG of 32768 x 32769 px (just over OpenCV's default limit; 130 kB on disk, 1 GB
    decoded): black but for its top-left pixel. Returns (path, (rows, columns))."""
    width, height = 32768, 32769
    row = b"\x00" * (1 + width // 8)  # filter byte 0, then the packed pixels
    first = b"\x00\x80" + row[2:]
    compressor = zlib.compressobj(9)
    idat = compressor.compress(first) + compressor.compress(row * (height - 1)) + compressor.flush()
    assert width * height > OPENCV_DEFAULT_MAX_PIXELS
    return _png(path, width, height, 1, 0, idat), (height, width)


def truncated_jpeg(path: Path, shape: tuple[int, int] = (80, 120)) -> Path:
    """A real JPEG of seeded noise cut to half its bytes, as by an interrupted copy: its header reads, its pixel
    data do not."""
    from dl_tools.io.images import write_image

    image = np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8)
    write_image(path, image)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
