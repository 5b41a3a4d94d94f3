"""Atomic output: write to a temporary name beside the target, rename when complete.

A crash or Ctrl-C while writing leaves the previous file (or nothing) in place, never half a file.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
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


def check_output_dir(path: str | os.PathLike, flag: str, fix: str = "give another path") -> Path:
    """Return ``path`` as a Path; InputError naming ``flag`` (and ending with ``fix``) unless it is, or can be made, a
    folder we may write in (no file in the way, write permission on the nearest existing folder). Nothing is
    created."""
    path = Path(path)
    for folder in (path, *path.parents):
        if not folder.exists():
            continue
        if not folder.is_dir():
            raise InputError(f"{flag} {path}: {folder} is a file, not a folder; {fix}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"{flag} {path}: no permission to write in {folder}; {fix}")
        break
    return path


def check_output_file(path: str | os.PathLike, flag: str, fix: str = "give a file name") -> Path:
    """Return ``path`` as a Path; InputError naming ``flag`` (and ending with ``fix``) unless a file can be written
    there: it is not a folder, and its folder exists or can be made. Nothing is created; an existing file is left to
    ``check_can_write``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; {fix}")
    check_output_dir(path.parent, flag)
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


def _json_ready(value):
    """``value`` with every NaN or infinite float (numpy's included) replaced by None, which JSON writes as null."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: str | os.PathLike, data, indent: int = 1) -> Path:
    """Write ``data`` as JSON to ``path`` atomically, NaN and infinities as null (valid JSON for any reader)."""
    return write_text_atomic(path, json.dumps(_json_ready(data), indent=indent, allow_nan=False) + "\n")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
