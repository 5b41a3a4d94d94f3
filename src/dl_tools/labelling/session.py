"""The annotation model of the labelling tool, without any display: windows over the image, strokes per window and
class, undo, back, skip, keys, brush size, resume.

The OpenCV front end (``labelling_gui``) only turns mouse and key events into calls of ``AnnotationSession`` and
draws its state; tests drive the same object directly.

Coordinates are (x, y) = (column, row) in pixels of the full-size image. Strokes are rasterised into ``sparse``,
an (H, W) uint8 map: 0 = no stroke, k = class k-1 (the legacy ``sparse`` convention). A later stroke paints over
an earlier one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

#: Keys that pick a class directly: class k has key CLASS_KEYS[k] (at most 15 classes have one).
CLASS_KEYS = "123456789qwerty"
#: Display brush diameter at start, in screen pixels (as the legacy tool), and its limits.
BRUSH_START, BRUSH_MIN, BRUSH_MAX = 5, 1, 99
#: Class index of an eraser stroke: it paints 0 (no stroke) over earlier strokes of this session and of ``base``.
ERASER = -1

HELP = """\
Draw on the class window with the left mouse button, in the class named in its title.
  Esc    done with this class: next class (after the last class: next window)
  {keys}  jump to that class in this window
  + / -  bigger / smaller brush
  z      undo the last stroke (only that one)
  b      back one window          s  skip this window (leave it unlabelled)
  f      finish: stop annotating and compute the labels now
  p      show / hide the model's proposal under the strokes (with --prior or --prior-run)
  h      show this help again
The strokes are saved to <name>_scribbles.png after every window (continue later with --resume)."""


@dataclass(frozen=True)
class Window:
    """A rectangle of the image: rows ``top``..``bottom``-1, columns ``left``..``right``-1 (full-size pixels)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


@dataclass
class Stroke:
    """One drag of the mouse: class index (0-based, or ``ERASER``), (x, y) points in full-size pixels, line width
    in pixels."""

    class_index: int
    thickness: int
    points: list[tuple[int, int]] = field(default_factory=list)


def window_grid(shape: tuple[int, int], size: int) -> list[Window]:
    """Non-overlapping ``size`` x ``size`` windows covering an (H, W) image in row-major order.

    The last row and column of windows are cut at the image edge (no padding); a ``size`` larger than the image
    gives one window, the whole image.
    """
    if size < 1:
        raise InputError(f"-w must be a positive number of pixels, got {size}")
    height, width = shape
    return [Window(top, left, min(top + size, height), min(left + size, width))
            for top in range(0, height, size) for left in range(0, width, size)]


def informative_windows(image: np.ndarray, windows: list[Window]) -> list[Window]:
    """The windows of (H, W, 3) ``image`` that are not one flat colour (flat ones, e.g. no-data borders, are
    skipped, as the legacy tool did). When every window is flat, all are kept: the image itself is one colour."""
    kept = [w for w in windows if np.ptp(image[w.slices].reshape(-1, image.shape[2]), axis=0).any()]
    return kept or list(windows)


def resume_index(sparse: np.ndarray, windows: list[Window]) -> int:
    """Where a resumed session starts: the window after the last one holding strokes (0 when there are none)."""
    last = -1
    for index, window in enumerate(windows):
        if sparse[window.slices].any():
            last = index
    return min(last + 1, len(windows) - 1) if last >= 0 else 0


class AnnotationSession:
    """State of one labelling session over one image.

    shape   : (H, W) of the full-size image.  labels : class names.  windows : the windows, in visiting order.
    base    : (H, W) strokes of an earlier session (``--resume``), kept under the new ones; undo never removes them.
    start   : index of the first window.
    on_save : called with ``sparse`` whenever the session leaves a window (next, back, skip, finish), so the
              strokes are on disk before anything else happens.
    proposal: (H, W) 0-based classes a model proposes (``--prior``), shown under the strokes (key p hides it), or
              None.
    """

    def __init__(self, shape: tuple[int, int], labels: list[str], windows: list[Window],
                 base: np.ndarray | None = None, start: int = 0,
                 on_save: Callable[[np.ndarray], None] | None = None, proposal: np.ndarray | None = None):
        if not windows:
            raise ValueError("no windows to annotate")
        if proposal is not None and np.shape(proposal) != tuple(shape):
            raise ValueError(f"the proposal {np.shape(proposal)} is not on the image's grid {tuple(shape)}")
        self.proposal = proposal
        self.show_proposal = proposal is not None
        self.shape = tuple(shape)
        self.labels = list(labels)
        self.windows = list(windows)
        if base is not None and np.asarray(base).shape != self.shape:
            raise InputError(f"the saved strokes ({base.shape[1]} x {base.shape[0]} px) do not fit the image "
                             f"({shape[1]} x {shape[0]} px); give the scribbles of this image")
        self.base = np.zeros(self.shape, np.uint8) if base is None else np.asarray(base, dtype=np.uint8).copy()
        self.sparse = self.base.copy()
        self.strokes: list[Stroke] = []
        self.undone: list[Stroke] = []  # undone strokes, the last undone last: what ``redo`` puts back
        self.window_index = int(np.clip(start, 0, len(self.windows) - 1))
        self.class_index = 0
        self.brush = BRUSH_START
        self.finished = False
        self.visited: set[int] = set()
        self._on_save = on_save
        self._active: Stroke | None = None

    # ---- where we are
    @property
    def window(self) -> Window:
        return self.windows[self.window_index]

    @property
    def class_name(self) -> str:
        return self.labels[self.class_index]

    def title(self) -> str:
        """Title of the class window: the class to draw and the position in the session."""
        return (f"{self.class_name}  (class {self.class_index + 1}/{len(self.labels)}, "
                f"window {self.window_index + 1}/{len(self.windows)})")

    # ---- strokes
    def start_stroke(self, x: int, y: int, thickness: int) -> None:
        """Begin a stroke of the current class at full-size pixel (x, y), ``thickness`` pixels wide."""
        self._active = Stroke(self.class_index, max(1, int(thickness)))
        self.strokes.append(self._active)
        self.undone.clear()
        self.add_point(x, y)

    def add_point(self, x: int, y: int) -> None:
        """Extend the stroke being drawn to (x, y) (clipped to the current window); ignored when none is."""
        if self._active is None:
            return
        w = self.window
        point = (int(np.clip(x, w.left, w.right - 1)), int(np.clip(y, w.top, w.bottom - 1)))
        previous = self._active.points[-1] if self._active.points else point
        self._active.points.append(point)
        self._paint(self.sparse, self._active, [previous, point])

    def end_stroke(self) -> None:
        self._active = None

    def add_stroke(self, class_index: int, thickness: int, points: list[tuple[int, int]]) -> Stroke:
        """Add a whole stroke at once (the web view sends strokes complete): ``class_index`` 0-based or ``ERASER``,
        ``thickness`` in full-size pixels, (x, y) ``points`` in full-size pixels inside the image. InputError for
        an unknown class, no point or a point outside the image (nothing changes then). Clears the redo list."""
        height, width = self.shape
        if class_index != ERASER and not 0 <= class_index < len(self.labels):
            raise InputError(f"unknown class {class_index}: give 0..{len(self.labels) - 1} or the eraser")
        if not points:
            raise InputError("a stroke needs at least one point")
        outside = [(x, y) for x, y in points if not (0 <= x < width and 0 <= y < height)]
        if outside:
            raise InputError(f"stroke point {outside[0]} lies outside the {width} x {height} px image")
        self.end_stroke()
        stroke = Stroke(int(class_index), max(1, int(thickness)), [(int(x), int(y)) for x, y in points])
        self.strokes.append(stroke)
        self.undone.clear()
        self._paint(self.sparse, stroke, stroke.points)
        return stroke

    def undo(self) -> bool:
        """Remove the last stroke of this session (only that one); False when there is none."""
        self._active = None
        if not self.strokes:
            return False
        self.undone.append(self.strokes.pop())
        self.sparse = self.base.copy()
        for stroke in self.strokes:
            self._paint(self.sparse, stroke, stroke.points)
        return True

    def redo(self) -> bool:
        """Put back the stroke undone last; False when there is none."""
        self._active = None
        if not self.undone:
            return False
        stroke = self.undone.pop()
        self.strokes.append(stroke)
        self._paint(self.sparse, stroke, stroke.points)
        return True

    def _paint(self, target: np.ndarray, stroke: Stroke, points: list[tuple[int, int]]) -> None:
        import cv2

        w = self.window if stroke is self._active else None
        # draw into the window's view when possible (cheap), else into the whole map
        view = target[w.slices] if w is not None else target
        offset = np.array([w.left, w.top]) if w is not None else np.array([0, 0])
        pts = (np.asarray(points, dtype=np.int32) - offset).reshape(-1, 1, 2)
        value = stroke.class_index + 1
        if len(points) == 1 or (len(points) == 2 and points[0] == points[1]):
            cv2.circle(view, tuple(int(v) for v in pts[0, 0]), max(1, stroke.thickness // 2), value, -1)
        else:
            cv2.polylines(view, [pts], False, value, thickness=stroke.thickness)

    # ---- classes and windows
    def select_class(self, index: int) -> None:
        if 0 <= index < len(self.labels):
            self.end_stroke()
            self.class_index = index

    def next_class(self) -> None:
        """Esc: the next class of this window; after the last class, the next window."""
        self.end_stroke()
        if self.class_index + 1 < len(self.labels):
            self.class_index += 1
        else:
            self.next_window()

    def next_window(self) -> None:
        """Leave this window (saving) for the next one; after the last window the session is finished."""
        self._leave()
        if self.window_index + 1 < len(self.windows):
            self.window_index += 1
        else:
            self.finished = True

    skip = next_window  # skipping leaves the window as it is (unlabelled unless it already has strokes)

    def back(self) -> None:
        """Go back one window (its strokes stay; more can be added or undone)."""
        self._leave()
        self.window_index = max(0, self.window_index - 1)

    def finish(self) -> None:
        """Stop annotating now (saving); the labels are computed from the strokes so far."""
        self._leave()
        self.finished = True

    def _leave(self) -> None:
        self.end_stroke()
        self.visited.add(self.window_index)
        self.class_index = 0
        if self._on_save is not None:
            self._on_save(self.sparse)

    def change_brush(self, step: int) -> int:
        self.brush = int(np.clip(self.brush + step, BRUSH_MIN, BRUSH_MAX))
        return self.brush

    # ---- keys
    def handle_key(self, key: str) -> str:
        """Apply one key ('\\x1b' = Esc) and return a short message for the terminal ('' when nothing happened)."""
        if key == "\x1b":
            self.next_class()
            return "finished" if self.finished else f"now: {self.title()}"
        if key in ("+", "="):
            return f"brush {self.change_brush(+1)} px"
        if key in ("-", "_"):
            return f"brush {self.change_brush(-1)} px"
        if key == "z":
            return "undid the last stroke" if self.undo() else "nothing to undo"
        if key == "b":
            self.back()
            return f"back to window {self.window_index + 1}/{len(self.windows)}"
        if key == "s":
            self.skip()
            return "finished" if self.finished else f"skipped to window {self.window_index + 1}/{len(self.windows)}"
        if key == "f":
            self.finish()
            return "finished"
        if key == "p":
            if self.proposal is None:
                return "no proposal to show: give --prior or --prior-run"
            self.show_proposal = not self.show_proposal
            return f"the model's proposal {'shown' if self.show_proposal else 'hidden'}"
        if key == "h":
            return self.help_text()
        index = CLASS_KEYS.find(key) if key else -1
        if 0 <= index < len(self.labels):
            self.select_class(index)
            return f"now: {self.title()}"
        return ""

    def help_text(self) -> str:
        keys = ", ".join(f"{CLASS_KEYS[k]} = {name}" for k, name in enumerate(self.labels[:len(CLASS_KEYS)]))
        return HELP.format(keys=keys)
