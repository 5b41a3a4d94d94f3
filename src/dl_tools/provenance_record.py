"""How an output was made: the one function that builds the provenance record every writer stores (DESIGN.md 8).

A record is a JSON-ready dict::

    {"record": 1, "dl_tools": {"version": "0.1.0", "git_commit": "<40 hex>" or None, "git_dirty": bool or None},
     "step": "label", "command": "create_groundtruth/label_1image_crf.py -w 500 ...", "argv": [...],
     "cwd": "/where/it/ran", "date": "2026-12-03T07:12:45+00:00", "python": "3.11.2",
     "settings": {...the step's params dataclass...},
     "inputs": [{"role": "image", "path": "...", "bytes": 123, "sha256": "<64 hex>"}, ...]}

An input folder of many files (retrain's tiles) is one entry ``{"role", "path", "files": n, "bytes": total,
"sha256"}`` whose ``sha256`` is that of the listing ``<relative name> <file SHA-256>`` one line a file, sorted: it
changes when any file changes, is added or removed. The command line is the one the scripts set with
``command_line`` (``cli.common.run``), else ``sys.argv``. The git commit is that of the clone the package runs from,
None for an installed package or where git is missing (never an error, never slower than ``GIT_TIMEOUT``).

Writers store the record in their own format (``io.mat``, ``io.geotiff``, sidecar JSON files); ``parse_record``
reads one back. Pure standard library: any layer can use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import functools
import hashlib
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: Version of the record's layout.
RECORD_VERSION = 1
#: Seconds a git call may take before the commit is left out.
GIT_TIMEOUT = 2.0
_PACKAGE_DIR = Path(__file__).resolve().parent

_COMMAND: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar("dl_tools_command", default=None)
_CWD: contextvars.ContextVar[str | None] = contextvars.ContextVar("dl_tools_cwd", default=None)
_CURRENT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("dl_tools_record", default=None)


@contextlib.contextmanager
def command_line(argv: Sequence[str] | None, cwd: str | None = None) -> Iterator[None]:
    """Within the block, records give ``argv`` (the program and its arguments; None: ``sys.argv``) as the command
    line and ``cwd`` (None: this process's) as the working folder."""
    tokens = _COMMAND.set(tuple(str(arg) for arg in argv) if argv is not None else None), _CWD.set(cwd)
    try:
        yield
    finally:
        _COMMAND.reset(tokens[0])
        _CWD.reset(tokens[1])


def invocation() -> tuple[tuple[str, ...] | None, str]:
    """(command line of the ``command_line`` block around the call or None, working folder): what a task sent to
    another process (a Dask worker) gives ``command_line`` there, so its records name the command as it was run."""
    return _COMMAND.get(), _CWD.get() or os.getcwd()


@contextlib.contextmanager
def recording(record: dict | None) -> Iterator[None]:
    """Within the block, ``current_record()`` is ``record``: for writers deep in a call chain (the windowed GeoTIFF
    writer) that the record is not passed to."""
    token = _CURRENT.set(record)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_record() -> dict | None:
    """The record of the ``recording`` block around the call, or None."""
    return _CURRENT.get()


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 (64 hex digits) of a file's bytes, read in chunks (files of any size, flat memory)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def input_file(role: str, path: str | os.PathLike) -> dict:
    """The record of one input file: its role ("image", "strokes", "model", "labels", ...), path as given,
    size in bytes and SHA-256."""
    path = Path(path)
    return {"role": role, "path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def input_folder(role: str, folder: str | os.PathLike, files: Iterable[str | os.PathLike]) -> dict:
    """The record of the ``files`` under ``folder`` as one input (module doc): their number, total bytes and the
    SHA-256 of their sorted listing of relative names and file SHA-256s."""
    folder = Path(folder)
    lines, total = [], 0
    for path in sorted(Path(f) for f in files):
        total += path.stat().st_size
        lines.append(f"{path.relative_to(folder).as_posix()} {sha256_file(path)}\n")
    digest = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
    return {"role": role, "path": str(folder), "files": len(lines), "bytes": total, "sha256": digest}


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              env=dict(os.environ, GIT_OPTIONAL_LOCKS="0"))
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs: the commit is left out
        return None


@functools.cache
def git_state(package_dir: Path = _PACKAGE_DIR) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git clone holding ``package_dir``; (None, None) when there is none (an installed
    package), git is missing or does not answer within ``GIT_TIMEOUT``. dirty: tracked files differ from the
    commit. Computed once a process."""
    if not any((folder / ".git").exists() for folder in (package_dir, *package_dir.parents)):
        return None, None
    head = _git(["rev-parse", "HEAD"], package_dir)
    if head is None or head.returncode != 0:
        return None, None
    changes = _git(["status", "--porcelain", "--untracked-files=no"], package_dir)
    dirty = None if changes is None or changes.returncode != 0 else bool(changes.stdout.strip())
    return head.stdout.strip(), dirty


def plain(value):
    """``value`` (a params dataclass, Path, tuple, numpy scalar or array, nested in dicts and lists) as JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain(value.tolist())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def build_record(step: str, settings=None, inputs: Sequence[dict] = ()) -> dict:
    """The provenance record (module doc) of an output of ``step``: ``settings`` (the step's params dataclass or a
    dict) and ``inputs`` (``input_file`` / ``input_folder`` entries), with the package version, git commit, command
    line, working folder and UTC date."""
    import dl_tools

    argv = list(_COMMAND.get() or sys.argv)
    commit, dirty = git_state()
    return {
        "record": RECORD_VERSION,
        "dl_tools": {"version": dl_tools.__version__, "git_commit": commit, "git_dirty": dirty},
        "step": step,
        "command": shlex.join(argv),
        "argv": argv,
        "cwd": _CWD.get() or os.getcwd(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "settings": plain(settings) if settings is not None else {},
        "inputs": [plain(entry) for entry in inputs],
    }


def record_json(record: dict, indent: int | None = None) -> str:
    """The record as JSON text (one line unless ``indent``)."""
    return json.dumps(plain(record), indent=indent, ensure_ascii=False)


def parse_record(text, source: str) -> dict | None:
    """The record stored as JSON ``text`` (str or bytes) in ``source`` (named in the warning); None, with a
    warning, when it does not parse as a record: the file itself stays readable."""
    try:
        record = json.loads(text)
        if not isinstance(record, dict) or "dl_tools" not in record:
            raise ValueError("not a DL tools provenance record")
    except (TypeError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("%s: its provenance record cannot be read (%s); the file is read without it", source,
                    str(exc)[:120])
        return None
    return record
