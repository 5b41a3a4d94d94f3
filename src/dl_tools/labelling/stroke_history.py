"""The strokes of one image of the web labeller, on disk before any stroke is acknowledged.

Two files per image ``<name>``, in the output folder (``file_contract.label_web_outputs``):

- ``<name>_scribbles.png``: the strokes, (H, W) uint8, 0 = none, k = class k-1: step 2's own file, so
  ``label_1image_crf.py --resume`` or ``--scribbles`` takes it as it is;
- ``<name>_scribbles.json``: the stroke history, so that undo and redo survive a restart: ``strokes`` (class
  index, -1 for the eraser, width and (x, y) points in full-size pixels, oldest first), ``undone`` (what redo puts
  back, the last undone last), the image's ``shape`` and ``labels``, and ``base``: the strokes of an earlier
  session that had no history (a step-2 scribbles PNG), as runs ``[start, length, value]`` of the flattened map.

Both are written atomically, the PNG first: a crash between the two leaves a PNG newer than its history, which the
next start sees (the history replayed differs from the PNG) and then keeps the PNG as the base, so no stroke is
lost (only the undo of the strokes of that history).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InputError
from .session import AnnotationSession, Stroke, Window

log = logging.getLogger(__name__)

#: Version of the history file's layout.
HISTORY_VERSION = 1
#: The end of the messages about a history file that cannot be used.
HISTORY_FIX = "remove it (the strokes stay in the scribbles PNG) or give the labels file it was drawn with"


def runs_of(sparse: np.ndarray) -> list[list[int]]:
    """The non-zero runs of the flattened (H, W) ``sparse``, as [start, length, value] lists (row-major)."""
    flat = np.asarray(sparse).ravel()
    if not flat.size:
        return []
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lengths = np.diff(np.r_[starts, flat.size])
    kept = flat[starts] != 0
    return np.stack([starts[kept], lengths[kept], flat[starts][kept]], axis=1).tolist()


def map_of_runs(runs: list[list[int]], shape: tuple[int, int]) -> np.ndarray:
    """The (H, W) uint8 map whose non-zero runs are ``runs`` (the inverse of ``runs_of``)."""
    flat = np.zeros(shape[0] * shape[1], np.uint8)
    for start, length, value in runs:
        flat[start:start + length] = value
    return flat.reshape(shape)


def _stroke_record(stroke: Stroke) -> dict:
    return {"class": stroke.class_index, "width": stroke.thickness, "points": [list(p) for p in stroke.points]}


def _stroke_of(record: dict) -> Stroke:
    return Stroke(int(record["class"]), int(record["width"]), [(int(x), int(y)) for x, y in record["points"]])


class StrokeHistory:
    """The ``AnnotationSession`` of one image (one window: the whole image) and its two files.

    shape : (H, W) of the full-size image.  labels : class names.  paths : {"scribbles": PNG, "history": JSON}.
    write_png : writes an (H, W) uint8 map to a PNG atomically (io.images.write_image).
    ``revision`` counts the changes since the server started; every change is on disk when its method returns.
    """

    def __init__(self, shape: tuple[int, int], labels: list[str], paths: dict[str, Path],
                 write_png: Callable[[Path, np.ndarray], object], base: np.ndarray | None = None,
                 strokes: list[Stroke] | None = None, undone: list[Stroke] | None = None):
        self.paths = paths
        self._write_png = write_png
        self.session = AnnotationSession(shape, labels, [Window(0, 0, shape[0], shape[1])], base=base)
        for stroke in strokes or []:
            self.session.add_stroke(stroke.class_index, stroke.thickness, stroke.points)
        self.session.undone = list(undone or [])
        self.revision = 0

    @classmethod
    def open(cls, shape: tuple[int, int], labels: list[str], paths: dict[str, Path],
             write_png: Callable[[Path, np.ndarray], object],
             read_png: Callable[[Path], np.ndarray]) -> StrokeHistory:
        """The saved state of an image: its history replayed when there is one (checked against the PNG), else the
        PNG as the base (a step-2 session), else nothing. ``read_png(path)`` returns the (H, W) strokes of a PNG,
        checked against the image and the classes. InputError for a history of another image or class list."""
        png = read_png(paths["scribbles"]) if paths["scribbles"].exists() else None
        if not paths["history"].exists():
            return cls(shape, labels, paths, write_png, base=png)
        record = _read_history(paths["history"], shape, labels)
        try:
            history = cls(shape, labels, paths, write_png, base=map_of_runs(record["base"], shape),
                          strokes=[_stroke_of(r) for r in record["strokes"]],
                          undone=[_stroke_of(r) for r in record["undone"]])
        except InputError as exc:  # a stroke outside the image: the file was edited or belongs elsewhere
            raise InputError(f"stroke history {paths['history']}: {exc}; {HISTORY_FIX}") from exc
        if png is not None and not np.array_equal(png, history.sparse):
            log.warning("%s differs from its history %s (drawn on since, or interrupted while saving): its strokes "
                        "are kept, their undo history is not", paths["scribbles"], paths["history"].name)
            return cls(shape, labels, paths, write_png, base=png)
        return history

    # ---- state
    @property
    def sparse(self) -> np.ndarray:
        """(H, W) uint8 strokes, 0 = none, k = class k-1."""
        return self.session.sparse

    @property
    def has_strokes(self) -> bool:
        return bool(self.session.sparse.any())

    def state(self) -> dict:
        """What the page shows of the strokes: revision, counts, and whether undo and redo can do anything."""
        return {"revision": self.revision, "strokes": len(self.session.strokes),
                "can_undo": bool(self.session.strokes), "can_redo": bool(self.session.undone),
                "has_strokes": self.has_strokes}

    # ---- changes, each saved before it returns
    def add(self, class_index: int, thickness: int, points: list[tuple[int, int]]) -> None:
        """Add one whole stroke (``AnnotationSession.add_stroke``: InputError, and nothing changed, for a bad
        one) and save."""
        self.session.add_stroke(class_index, thickness, points)
        self._saved()

    def undo(self) -> bool:
        changed = self.session.undo()
        if changed:
            self._saved()
        return changed

    def redo(self) -> bool:
        changed = self.session.redo()
        if changed:
            self._saved()
        return changed

    def _saved(self) -> None:
        from ..io.atomic import write_json_atomic

        self.revision += 1
        self._write_png(self.paths["scribbles"], self.session.sparse)
        write_json_atomic(self.paths["history"], {
            "version": HISTORY_VERSION, "shape": list(self.session.shape), "labels": self.session.labels,
            "base": runs_of(self.session.base),
            "strokes": [_stroke_record(s) for s in self.session.strokes],
            "undone": [_stroke_record(s) for s in self.session.undone]}, indent=None)


def _read_history(path: Path, shape: tuple[int, int], labels: list[str]) -> dict:
    """The checked content of a history file; InputError naming it and the fix otherwise."""
    fix = HISTORY_FIX
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("version") != HISTORY_VERSION:
            raise InputError(f"stroke history {path} has version {record.get('version')!r}, not "
                             f"{HISTORY_VERSION}; {fix}")
        strokes = [_stroke_of(r) for r in record["strokes"] + record["undone"]]
        runs = [[int(v) for v in run] for run in record["base"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"stroke history {path} is damaged ({exc}); {fix}") from exc
    if list(record["shape"]) != list(shape):
        raise InputError(f"stroke history {path} is of a {record['shape'][1]} x {record['shape'][0]} px image, "
                         f"not of this {shape[1]} x {shape[0]} px one; {fix}")
    if list(record["labels"]) != list(labels):
        raise InputError(f"stroke history {path} was drawn with the classes {', '.join(record['labels'])}, not "
                         f"{', '.join(labels)}; {fix}")
    if any(not -1 <= s.class_index < len(labels) for s in strokes) or any(
            not 0 <= v <= len(labels) for _, _, v in runs):
        raise InputError(f"stroke history {path} holds a class outside 1..{len(labels)}; {fix}")
    record["base"] = runs
    return record
