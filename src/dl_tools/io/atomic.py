"""Atomic output: write to a temporary name beside the target, rename when complete.

A crash or Ctrl-C while writing leaves the previous file (or nothing) in place, never half a file. ``atomic_path``
does it for one file, ``atomic_outputs`` for the set of files a step writes for one image: they appear together
or not at all. Errors name the final path, never the temporary one (``final_names``).

Temporary names (``is_temporary_name``) are hidden: ``.tmp-<8 random characters>-<final name>``, retile's staging
folders ``.tile_<t>.<8 random characters>`` (and ``.tile_<t>.old``) and split's ``.split-<8 random characters>``.
After a ``kill -9`` they stay behind; every folder listing skips them, and the next run of the step removes those
older than its start in the folders it writes to (``remove_stale_temporaries``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import InputError
from ..terminal import count

log = logging.getLogger(__name__)

#: Prefix of the temporary files of ``atomic_path`` and ``atomic_outputs``.
TEMPORARY_PREFIX = ".tmp-"
#: Every temporary name DL tools writes (``tempfile`` adds 8 random characters of [a-z0-9_]).
_TEMPORARY_NAME = re.compile(r"\.(tmp-[a-z0-9_]{8}-.+|tile_\d+\.([a-z0-9_]{8}|old)|split-[a-z0-9_]{8})")


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


def is_temporary_name(path: str | os.PathLike) -> bool:
    """True when the name of ``path`` is one of DL tools' temporary names (module doc): a file or folder still being
    written, or left by an interrupted run; never an input or a result, so every folder listing skips it."""
    return _TEMPORARY_NAME.fullmatch(Path(path).name) is not None


def final_names(exc: BaseException, finals: Mapping[Path, Path]) -> BaseException:
    """``exc`` with each temporary path of ``finals`` ({temporary: final}) replaced by its final path in its message
    and, for an OSError, its file names, so that an error names the file the user asked for; returns ``exc``."""

    def named(value):
        value = os.fspath(value) if isinstance(value, os.PathLike) else value
        if not isinstance(value, str):
            return value
        for tmp, final in finals.items():
            value = value.replace(os.fspath(tmp), os.fspath(final))
        return value

    if isinstance(exc, OSError):
        exc.filename, exc.filename2 = named(exc.filename), named(exc.filename2)
    exc.args = tuple(named(arg) for arg in exc.args)
    return exc


def _temporary_beside(path: Path) -> Path:
    """A new, empty, private file with a temporary name beside ``path`` (``.tmp-<random>-<name>``), the folder made
    if missing. An error names ``path``, not the temporary name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=f"-{path.name}", dir=path.parent)
    except OSError as exc:
        if exc.filename is not None and is_temporary_name(exc.filename):
            exc.filename = os.fspath(path)
        raise
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, create: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success give it the umask's permissions and rename it to ``path``.

    The temporary name ends with ``path``'s whole name (``.tmp-<random>-<name>``), so writers that go by the
    extension (image formats, Keras' ``.weights.h5``) accept it. With ``create`` false it does not exist yet (for
    writers that refuse an existing file). It is removed on failure. The parent folder is created if missing.
    An exception names ``path`` where it named the temporary path.
    """
    path = Path(path)
    tmp = _temporary_beside(path)
    if not create:
        tmp.unlink()
    try:
        yield tmp
        tmp.chmod(new_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        final_names(exc, {tmp: path})
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_outputs(paths: Mapping[str, str | os.PathLike]) -> Iterator[dict[str, Path]]:
    """The outputs of one step for one image, all or none: yield {role: temporary path} for ``paths`` ({role: final
    path}); the block writes each file to its temporary path (which does not exist yet; its folder does).

    When the block ends, every file is renamed to its final path, ``.mat`` files last (a re-run checks them and
    later steps read them). On any exception, KeyboardInterrupt included, in the block or during the renames, no
    new file stays: the temporaries are removed, the files renamed so far taken back, and the files they replaced
    put back. Existing final files are replaced (check them with ``check_can_write`` before the work). Exceptions
    name the final paths, never the temporary ones.
    """
    finals = {role: Path(path) for role, path in paths.items()}
    temps: dict[str, Path] = {}
    try:
        for role, final in finals.items():
            temps[role] = _temporary_beside(final)
            temps[role].unlink()
        yield dict(temps)
        _rename_all(finals, temps)
    except BaseException as exc:
        final_names(exc, {temps[role]: finals[role] for role in temps})
        raise
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def _rename_all(finals: dict[str, Path], temps: dict[str, Path]) -> None:
    """Rename ``temps[role]`` to ``finals[role]`` for every role, ``.mat`` files last; an existing final file is
    moved to a temporary name first and deleted at the end. On any exception, undo: remove the files renamed into
    place and move the replaced ones back."""
    for tmp in temps.values():
        tmp.chmod(new_mode())
    placed: list[Path] = []
    replaced: dict[Path, Path] = {}  # final path -> where the file it held waits
    try:
        for role in sorted(finals, key=lambda role: finals[role].suffix.lower() == ".mat"):
            final = finals[role]
            if final.exists():
                replaced[final] = _temporary_beside(final)
                os.replace(final, replaced[final])
            os.replace(temps[role], final)
            placed.append(final)
    except BaseException:
        for final in placed:
            final.unlink(missing_ok=True)
        for final, backup in replaced.items():
            if final.exists():  # interrupted before it was moved away: the backup is an empty placeholder
                backup.unlink()
            else:
                os.replace(backup, final)
        raise
    for backup in replaced.values():
        backup.unlink()


def remove_stale_temporaries(folder: str | os.PathLike, started: float, pattern: str = f"{TEMPORARY_PREFIX}*") -> int:
    """Remove the temporary files and folders (``is_temporary_name``) directly in ``folder`` whose name matches the
    shell ``pattern`` and that were last modified before ``started`` (``time.time()`` when the run began): what an
    interrupted run (``kill -9``, a power cut) of the step left in a folder it writes to. Says so in one info line;
    returns how many were removed (0 for a missing folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = []
    for entry in folder.iterdir():
        if is_temporary_name(entry) and fnmatch.fnmatchcase(entry.name, pattern):
            with contextlib.suppress(FileNotFoundError):  # another run may just have renamed its own
                if entry.lstat().st_mtime < started:
                    stale.append(entry)
    for entry in stale:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if stale:
        log.info("removed %s of an interrupted run in %s", count(len(stale), "leftover temporary file"), folder)
    return len(stale)


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
