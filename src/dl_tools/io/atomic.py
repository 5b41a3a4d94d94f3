"""Atomic output: write to a temporary name beside the target, rename when complete.

A crash or Ctrl-C while writing leaves the previous file (or nothing) in place, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import InputError


def check_can_write(path: str | os.PathLike, overwrite: bool, flag: str = "--overwrite") -> Path:
    """Return ``path`` as a Path; raise InputError if it exists and ``overwrite`` is false."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; give {flag} to replace it")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path with the same suffix as ``path``; on success rename it to ``path``.

    The temporary file is created in the same folder (so the rename is atomic) and removed on failure.
    The parent folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
