"""Atomic output: write to a temporary name beside the target, rename when complete.

A crash or Ctrl-C while writing leaves the previous file (or nothing) in place, never half a file.
"""

from __future__ import annotations

import contextlib
import functools
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


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def new_mode(directory: bool = False) -> int:
    """The permission bits a new file (or folder) gets from the user's umask, e.g. 0o644 (0o755) for umask 022.
    Temporary files and folders are created private (0o600 / 0o700); outputs get these bits before their rename,
    so colleagues can read results as they could any other file of the user's."""
    return (0o777 if directory else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, create: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success give it the umask's permissions and rename it to ``path``.

    The temporary name ends with ``path``'s whole name (``.tmp-<random>-<name>``), so writers that go by the
    extension (image formats, Keras' ``.weights.h5``) accept it. With ``create`` false it does not exist yet (for
    writers that refuse an existing file). It is removed on failure. The parent folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{path.name}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    if not create:
        tmp.unlink()
    try:
        yield tmp
        tmp.chmod(new_mode())
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
