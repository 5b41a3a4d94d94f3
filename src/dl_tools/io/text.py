"""Text files that name the classes: labels files, colour files and ``labeldefs.txt``.

- labels file: one class name per line; line order = class index (0-based).
- colour file: one matplotlib colour per line (a name such as ``gray`` or ``r``, or ``#RRGGBB``), in label order.
- labeldefs file (Method 2): ``name, R, G, B`` per line, 0-255; line order = class index.

Blank lines at the end of a file are ignored; a blank line between names is an error. Every error names the file
and the line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import LABELDEFS_NAME
from .atomic import write_text_atomic


def _read_lines(path: str | os.PathLike, what: str) -> list[str]:
    """Return the stripped lines of a text file, without trailing blank lines; errors name ``what``."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file; give the path of a text file")
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist; give the path of an existing text file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not a UTF-8 text file ({exc.reason}); save it as plain text") from exc
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise InputError(f"{what} {path} is empty; write one entry per line")
    return lines


def check_class_names(names: list[str], source: str) -> list[str]:
    """Raise InputError for blank or duplicate class names; ``source`` names the file for the message."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name:
            raise InputError(f"{source}, line {number}: blank class name; remove the line or name the class")
        if name in seen:
            raise InputError(
                f"{source}, line {number}: class {name!r} repeats line {seen[name]}; class names must be unique"
            )
        seen[name] = number
    return names


def read_labels(path: str | os.PathLike) -> list[str]:
    """Read a labels file: a list of unique class names, index = class index."""
    return check_class_names(_read_lines(path, "labels file"), f"labels file {path}")


def write_labels(path: str | os.PathLike, labels: list[str]) -> Path:
    """Write class names one per line (atomically), ending with a newline."""
    check_class_names(list(labels), f"labels for {path}")
    return write_text_atomic(path, "".join(f"{name}\n" for name in labels))


def parse_color(text: str, where: str) -> tuple[int, int, int]:
    """Parse a matplotlib colour (name, letter or ``#RRGGBB``) into an (R, G, B) tuple of 0-255 ints."""
    from matplotlib.colors import to_rgb

    try:
        rgb = to_rgb(text)
    except ValueError as exc:
        raise InputError(
            f"{where}: {text!r} is not a colour; use a matplotlib colour name (e.g. 'gray', 'r') or #RRGGBB"
        ) from exc
    return tuple(int(round(255 * c)) for c in rgb)


def read_colors(path: str | os.PathLike) -> np.ndarray:
    """Read a colour file: returns (N, 3) uint8 RGB, row k = colour of class k."""
    lines = _read_lines(path, "colour file")
    colors = [parse_color(line, f"colour file {path}, line {n}") for n, line in enumerate(lines, start=1)]
    return np.asarray(colors, dtype=np.uint8)


def write_colors(path: str | os.PathLike, colors: np.ndarray) -> Path:
    """Write (N, 3) uint8 RGB colours as ``#RRGGBB`` lines (atomically)."""
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    return write_text_atomic(path, "".join("#{:02x}{:02x}{:02x}\n".format(*rgb) for rgb in colors))


def check_same_length(labels: list[str], colors: np.ndarray, labels_path, colors_path) -> None:
    """Raise InputError unless there is one colour per class."""
    if len(labels) != len(colors):
        raise InputError(
            f"labels file {labels_path} has {len(labels)} classes but colour file {colors_path} has "
            f"{len(colors)} colours; give one colour per class, in the same order"
        )


def read_labeldefs(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read ``labeldefs.txt``: returns (class names, (N, 3) uint8 RGB colours)."""
    names, colors = [], []
    for number, line in enumerate(_read_lines(path, "labeldefs file"), start=1):
        parts = [part.strip() for part in line.split(",")]
        where = f"labeldefs file {path}, line {number}"
        if len(parts) != 4:
            raise InputError(f"{where}: expected 'name, R, G, B', got {line!r}")
        try:
            rgb = [int(value) for value in parts[1:]]
        except ValueError as exc:
            raise InputError(f"{where}: R, G and B must be integers 0-255, got {line!r}") from exc
        if not all(0 <= value <= 255 for value in rgb):
            raise InputError(f"{where}: R, G and B must be integers 0-255, got {line!r}")
        names.append(parts[0])
        colors.append(rgb)
    check_class_names(names, f"labeldefs file {path}")
    return names, np.asarray(colors, dtype=np.uint8)


def write_labeldefs(path: str | os.PathLike, labels: list[str], colors: np.ndarray) -> Path:
    """Write ``name, R, G, B`` lines (atomically)."""
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    check_same_length(list(labels), colors, path, path)
    lines = "".join(f"{name}, {r}, {g}, {b}\n" for name, (r, g, b) in zip(labels, colors))
    return write_text_atomic(path, lines)


def class_key(name: str) -> str:
    """A class name reduced to lower-case letters and digits: ``Water_Deep`` and ``water deep`` share a key.

    The legacy retrain.py lower-cased folder names and replaced punctuation by spaces, so a model's labels file
    may spell a class differently from the label files it was trained on.
    """
    return "".join(ch for ch in name.lower() if ch.isalnum())


def match_class_names(names: list[str], reference: list[str]) -> list[int | None]:
    """For each of ``names``, the index of the same class in ``reference``, or None when it has no match.

    A name matches exactly, else by ``class_key`` when that key is unique in ``reference`` (and in ``names``).
    """
    exact = {name: k for k, name in enumerate(reference)}
    ref_keys: dict[str, list[int]] = {}
    for k, name in enumerate(reference):
        ref_keys.setdefault(class_key(name), []).append(k)
    own_keys: dict[str, int] = {}
    for name in names:
        own_keys[class_key(name)] = own_keys.get(class_key(name), 0) + 1
    matches: list[int | None] = []
    for name in names:
        if name in exact:
            matches.append(exact[name])
            continue
        candidates = ref_keys.get(class_key(name), [])
        unique = len(candidates) == 1 and own_keys[class_key(name)] == 1
        matches.append(candidates[0] if unique else None)
    return matches


def is_labeldefs_file(path: str | os.PathLike) -> bool:
    """True when every line of a text file has the ``name, R, G, B`` form of labeldefs.txt (three commas)."""
    return all(line.count(",") == 3 for line in _read_lines(path, "colour file"))


def read_class_colors(path: str | os.PathLike, labels: list[str],
                      labels_path: str | os.PathLike = "labels") -> np.ndarray:
    """Colours of ``labels``, as (N, 3) uint8 RGB, from a colour file or a labeldefs file (detected by its form).

    - colour file (one colour per line): line k is the colour of class k; the counts must agree.
    - labeldefs file (``name, R, G, B``): classes are matched by name (``match_class_names``), so the order may
      differ from the labels file; every class needs a line (extra lines are ignored).
    """
    if not is_labeldefs_file(path):
        colors = read_colors(path)
        check_same_length(list(labels), colors, labels_path, path)
        return colors
    names, colors = read_labeldefs(path)
    matches = match_class_names(list(labels), names)
    missing = [name for name, k in zip(labels, matches) if k is None]
    if missing:
        raise InputError(f"labeldefs file {path} has no colour for class(es) {', '.join(map(repr, missing))} of "
                         f"{labels_path} (it names {', '.join(map(repr, names))}); add a 'name, R, G, B' line for each")
    return colors[np.asarray(matches, dtype=np.int64)]


def find_labeldefs(start: str | Path) -> Path | None:
    """The first ``labeldefs.txt`` in ``start`` or any folder above it (the tutorial keeps it in ``data/``)."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        candidate = folder / LABELDEFS_NAME
        if candidate.is_file():
            return candidate
    return None
