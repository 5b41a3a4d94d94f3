"""The tiling engine (pure numpy): window plans over an (H, W) extent, cutting windows from arrays, blending the
per-class probabilities of overlapping windows, and the class make-up of windows.

A plan lays windows of ``size`` px (a block) at ``stride`` px, or at a fractional ``overlap`` of a block, over an
extent; an optional ``halo`` widens every window by that many px of context on each side. Each window owns a *core*,
the pixels it answers for: cores of neighbouring windows meet halfway through the overlap of their blocks, so with
``edge`` "inside" or "mirror" the cores tile the extent exactly once. ``edge`` says what happens at the edges:

- "inside": the blocks are spread evenly, at most ``stride`` apart, from the top-left corner to the bottom-right
  one, and windows are shifted inside, so none sticks out. Along an axis shorter than a window there is one window
  at 0, which sticks out past the bottom or right edge: cut it with a mirror (FCN inference).
- "mirror": blocks at 0, stride, 2 stride, ... until the extent is covered; the last ones and the halos stick out
  and are cut with mirrored padding (the hybrid method's tile grid).
- "drop": only the windows wholly inside the extent, at 0, stride, 2 stride, ...; a strip at the bottom and right
  narrower than a window is in no window, and neither is a gap between windows further apart than their size
  (retile's tiles).

A plan holds a few integers per window and never an (H, W) array, so it is cheap for an extent of any size (a
raster read window by window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

EDGES = ("inside", "mirror", "drop")
#: Mirrored padding as numpy names it: "reflect" does not repeat the edge pixel (the hybrid's edge tiles),
#: "symmetric" does (FCN inference on an image smaller than the network's input).
MIRRORS = ("reflect", "symmetric")
#: Blend weight of a window's border pixels relative to its centre: above 0, so every pixel of a window counts.
BLEND_FLOOR = 0.05


@dataclass(frozen=True)
class Window:
    """One window of a plan, in pixels of the extent.

    row, col      : top-left corner, halo included; negative, or with the window passing the bottom or right edge,
                    when the window sticks out of the extent.
    height, width : size, halo included.
    core          : (rows, cols) slices, within the window, of the pixels this window answers for.
    halo          : px of context added on each side of the window's block.
    """

    row: int
    col: int
    height: int
    width: int
    core: tuple[slice, slice]
    halo: int = 0

    @property
    def core_in_extent(self) -> tuple[slice, slice]:
        """(rows, cols) slices of the core in the extent."""
        rows, cols = self.core
        return (slice(self.row + rows.start, self.row + rows.stop),
                slice(self.col + cols.start, self.col + cols.stop))

    def inside(self, shape: tuple[int, int]) -> bool:
        """True when the window lies wholly inside an extent of ``shape`` (H, W)."""
        return (self.row >= 0 and self.col >= 0 and self.row + self.height <= shape[0]
                and self.col + self.width <= shape[1])

    def overlap(self, shape: tuple[int, int]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """(slices within the window, slices within the extent) of the window's pixels that lie in the extent."""
        top, left = max(self.row, 0), max(self.col, 0)
        bottom, right = min(self.row + self.height, shape[0]), min(self.col + self.width, shape[1])
        return ((slice(top - self.row, bottom - self.row), slice(left - self.col, right - self.col)),
                (slice(top, bottom), slice(left, right)))


@dataclass(frozen=True, eq=False)
class WindowPlan:
    """Windows of one size over an (H, W) extent, row-major (see the module doc); a sequence of ``Window``.

    shape        : (H, W) of the extent.
    window_shape : (height, width) of every window, halo included.
    halo         : px of context on each side of a window's block.
    tops, lefts  : (K,) int64 top-left corner of each window in the extent.
    cores        : (K, 4) int64 core of each window in the extent: top, bottom, left, right (bottom, right excluded).
    grid         : (windows down, windows across) of a whole plan; None for a selection of one.
    """

    shape: tuple[int, int]
    window_shape: tuple[int, int]
    halo: int
    tops: np.ndarray
    lefts: np.ndarray
    cores: np.ndarray
    grid: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.tops)

    def __getitem__(self, index):
        """``plan[i]``: the Window i; ``plan[slice]``, ``plan[index array]``, ``plan[bool mask]``: a WindowPlan of
        those windows (their cores unchanged)."""
        if isinstance(index, (int, np.integer)):
            top, bottom, left, right = (int(v) for v in self.cores[index])
            row, col = int(self.tops[index]), int(self.lefts[index])
            core = (slice(top - row, bottom - row), slice(left - col, right - col))
            return Window(row, col, *self.window_shape, core, self.halo)
        return WindowPlan(self.shape, self.window_shape, self.halo, self.tops[index], self.lefts[index],
                          self.cores[index])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def origins(self) -> np.ndarray:
        """(K, 2) int64 (row, col) top-left corners of the windows."""
        return np.stack([self.tops, self.lefts], axis=1)

    def bounds(self) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom and right excluded, of the box holding every window (halos included)."""
        return (int(self.tops.min()), int(self.lefts.min()), int(self.tops.max()) + self.window_shape[0],
                int(self.lefts.max()) + self.window_shape[1])

    def in_region(self, top: int, left: int, shape: tuple[int, int]) -> WindowPlan:
        """These windows in the coordinates of the region of ``shape`` whose top-left pixel is (``top``, ``left``) of
        the extent (a selection: no grid)."""
        return WindowPlan(tuple(shape), self.window_shape, self.halo, self.tops - top, self.lefts - left,
                          self.cores - np.array([top, top, left, left]))

    def every(self, step: int) -> WindowPlan:
        """Every ``step``-th window down and across a whole plan (``centred_every`` along each axis), row-major."""
        if self.grid is None:
            raise ValueError("every() takes every step-th window of a whole plan, not of a selection of one")
        rows, cols = centred_every(self.grid[0], step), centred_every(self.grid[1], step)
        return self[(rows[:, None] * self.grid[1] + cols[None, :]).ravel()]


def centred_every(n: int, step: int) -> np.ndarray:
    """(k,) int64 indices 0..n-1 of every ``step``-th item, centred (equal margins at both ends): 7, 8 -> [3]."""
    if step < 1:
        raise ValueError(f"step must be a positive integer, got {step}")
    return np.arange(((n - 1) % step) // 2, n, step, dtype=np.int64)


def _spread(length: int, size: int, stride: int) -> list[int]:
    """Block starts from 0 to ``length - size``, evenly spread and at most ``stride`` apart; [0] when
    ``length <= size``."""
    if length <= size:
        return [0]
    n_blocks = int(np.ceil((length - size) / stride)) + 1
    return [int(round(i * (length - size) / (n_blocks - 1))) for i in range(n_blocks)]


def _axis(length: int, size: int, stride: int, halo: int, edge: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along one axis of ``length`` px: ((k,) window starts, halo included; (k,) core starts; (k,) core stops)."""
    span = size + 2 * halo
    if edge == "drop":
        starts = np.arange(0, length - span + 1, stride, dtype=np.int64)
        blocks = starts + halo
    elif edge == "mirror":
        blocks = np.arange(max(0, -(-(length - size) // stride)) + 1, dtype=np.int64) * stride
        starts = blocks - halo
    else:
        blocks = np.asarray(_spread(length, size, stride), dtype=np.int64)
        starts = np.clip(blocks - halo, 0, length - span) if length >= span else np.zeros_like(blocks)
    ends = blocks + size
    middles = (ends[:-1] + blocks[1:]) // 2
    core_starts = np.maximum(np.concatenate([blocks[:1], middles]), blocks)
    core_stops = np.minimum(np.concatenate([middles, np.minimum(ends[-1:], length)]), ends)
    return starts, core_starts, core_stops


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ValueError(f"{name} must be a positive integer or a (rows, cols) pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def plan_windows(shape: tuple[int, int], size, *, stride=None, overlap: float | None = None, halo: int = 0,
                 edge: str = "inside") -> WindowPlan:
    """The windows over an (H, W) extent (see the module doc).

    size    : block size in px, int or (rows, cols).
    stride  : px between blocks, int or (rows, cols); or
    overlap : fraction of a block shared with its neighbour, in [0, 1): stride = max(1, int(size * (1 - overlap))).
              Neither: stride = size (blocks side by side).
    halo    : px of context added on each side of every block (windows are size + 2 halo px).
    edge    : "inside", "mirror" or "drop".
    """
    size = _pair(size, "size")
    if stride is not None and overlap is not None:
        raise ValueError("give stride or overlap, not both")
    if overlap is not None and not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if stride is None:
        stride = tuple(max(1, int(s * (1.0 - (overlap or 0.0)))) for s in size)
    stride = _pair(stride, "stride")
    if int(halo) != halo or halo < 0:
        raise ValueError(f"halo must be a non-negative integer, got {halo!r}")
    if edge not in EDGES:
        raise ValueError(f"edge must be one of {', '.join(EDGES)}, got {edge!r}")
    if edge != "drop" and any(s > b for s, b in zip(stride, size)):
        raise ValueError(f"stride {stride} exceeds the window size {size}: edge {edge!r} would leave gaps")
    height, width = int(shape[0]), int(shape[1])
    rows = _axis(height, size[0], stride[0], int(halo), edge)
    cols = _axis(width, size[1], stride[1], int(halo), edge)
    n_rows, n_cols = len(rows[0]), len(cols[0])
    cores = np.stack([np.repeat(rows[1], n_cols), np.repeat(rows[2], n_cols),
                      np.tile(cols[1], n_rows), np.tile(cols[2], n_rows)], axis=1).astype(np.int64)
    return WindowPlan((height, width), (size[0] + 2 * int(halo), size[1] + 2 * int(halo)), int(halo),
                      np.repeat(rows[0], n_cols).astype(np.int64), np.tile(cols[0], n_rows).astype(np.int64), cores,
                      (n_rows, n_cols))


def mirror_index(start: int, length: int, size: int, mirror: str) -> np.ndarray:
    """(length,) int64 indices ``start .. start + length - 1`` into an axis of ``size`` px, those outside it folded
    back by mirroring about the edges, as ``np.pad(..., mode=mirror)`` pads (any overshoot):
    size 5, start 3, length 4 -> "reflect": 3, 4, 3, 2 (edge pixel not repeated); "symmetric": 3, 4, 4, 3."""
    if mirror not in MIRRORS:
        raise ValueError(f"mirror must be one of {', '.join(MIRRORS)}, got {mirror!r}")
    index = np.arange(start, start + length, dtype=np.int64)
    period = 2 * size if mirror == "symmetric" else max(1, 2 * (size - 1))
    index %= period
    return np.where(index < size, index, period - (mirror == "symmetric") - index)


def cut(image: np.ndarray, window: Window, mirror: str | None = None) -> np.ndarray:
    """(height, width, ...) copy of a window of an (H, W, ...) ``image``; the parts of a window that stick out are
    mirrored in (``mirror_index``; ``mirror`` "reflect" or "symmetric", required for such a window)."""
    if window.inside(image.shape):
        return image[window.row:window.row + window.height, window.col:window.col + window.width].copy()
    if mirror is None:
        raise ValueError(f"window at ({window.row}, {window.col}) of {window.height} x {window.width} px sticks "
                         f"out of the {image.shape[0]} x {image.shape[1]} image; give a mirror")
    rows = mirror_index(window.row, window.height, image.shape[0], mirror)
    cols = mirror_index(window.col, window.width, image.shape[1], mirror)
    return image[np.ix_(rows, cols)]


def row_chunks(tops: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs of up to ``size`` neighbours in one row of windows of a row-major plan whose windows' top rows are
    ``tops`` (K,), numbered in plan order (a chunk never spans two rows, so its windows lie side by side):
    ((K,) int64 chunk of each window, (C + 1,) int64 first window of each chunk, then K), so chunk c holds the
    windows ``starts[c]`` to ``starts[c + 1]`` (excluded)."""
    tops = np.asarray(tops)
    chunks, first = np.empty(len(tops), np.int64), 0
    row_starts = np.flatnonzero(np.r_[True, tops[1:] != tops[:-1]]) if len(tops) else np.zeros(0, np.int64)
    for start, stop in zip(row_starts, np.r_[row_starts[1:], len(tops)]):
        chunks[start:stop] = first + np.arange(stop - start) // size
        first += -(-(stop - start) // size)
    return chunks, np.r_[np.flatnonzero(np.diff(chunks, prepend=-1)), len(tops)].astype(np.int64)


def cut_windows(image: np.ndarray, plan: WindowPlan, mirror: str | None = None) -> np.ndarray:
    """(K, height, width, ...) the windows of ``plan`` cut from an (H, W, ...) ``image`` (see ``cut``)."""
    image = np.asarray(image)
    out = np.empty((len(plan),) + tuple(plan.window_shape) + image.shape[2:], dtype=image.dtype)
    for i, window in enumerate(plan):
        out[i] = cut(image, window, mirror)
    return out


def blend_weights(shape: tuple[int, int], floor: float = BLEND_FLOOR) -> np.ndarray:
    """(h, w) float32 weights of one window: a separable ramp from ``floor`` at the borders to 1 at the centre."""
    def ramp(n):
        position = (np.arange(n) + 0.5) / n
        return floor + (1.0 - floor) * (1.0 - np.abs(2.0 * position - 1.0))

    return np.outer(ramp(shape[0]), ramp(shape[1])).astype(np.float32)


def blend(plan: WindowPlan, probs: Iterable[np.ndarray], floor: float = BLEND_FLOOR) -> np.ndarray:
    """(H, W, N) float32 per-pixel average of the windows' (height, width, N) probabilities ``probs`` (one per window
    of ``plan``, in its order), each window weighted by ``blend_weights``; the weights over a pixel are normalised to
    sum to one. Parts of windows outside the extent are left out; a pixel in no window gets 0."""
    if not len(plan):
        raise ValueError("no windows to blend")
    height, width = plan.shape
    weights = blend_weights(plan.window_shape, floor)[:, :, None]
    total, weight, count = None, np.zeros((height, width, 1), dtype=np.float32), 0
    for window, window_probs in zip(plan, probs):
        window_probs = np.asarray(window_probs, dtype=np.float32)
        if total is None:
            total = np.zeros((height, width, window_probs.shape[-1]), dtype=np.float32)
        within, extent = window.overlap(plan.shape)
        total[extent] += (weights * window_probs)[within]
        weight[extent] += weights[within]
        count += 1
    if count != len(plan):
        raise ValueError(f"{count} probability windows for a plan of {len(plan)} windows")
    np.divide(total, weight, out=total, where=weight > 0)
    return total


def predict_tiled(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], tile_shape: tuple[int, int],
                  overlap: float = 0.25, batch_size: int = 4) -> np.ndarray:
    """Per-pixel class probabilities of an image of any size from a network of fixed input size.

    image      : (H, W, 3) array (any dtype the network takes).
    predict    : (B, h, w, 3) float32 -> (B, h, w, N) probabilities, with (h, w) = ``tile_shape``.
    overlap    : fraction of a tile shared with its neighbour, in [0, 1).
    Returns (H, W, N) float32: windows of ``plan_windows(edge="inside")`` (an image smaller than a tile is mirrored
    to its size, "symmetric"), run in batches of ``batch_size`` and blended (``blend``).
    """
    plan = plan_windows(image.shape[:2], tile_shape, overlap=overlap, edge="inside")

    def window_probs():
        for first in range(0, len(plan), batch_size):
            tiles = cut_windows(image, plan[first:first + batch_size], mirror="symmetric").astype(np.float32)
            yield from np.asarray(predict(tiles), dtype=np.float32)

    return blend(plan, window_probs())


def paint_cores(plan: WindowPlan, values: Sequence, dtype=np.uint8, fill=0) -> np.ndarray:
    """(H, W) ``dtype`` map holding each window's value (``values``: one per window of ``plan``) over its core,
    ``fill`` where no window's core is."""
    out = np.full(plan.shape, fill, dtype=dtype)
    for window, value in zip(plan, values):
        out[window.core_in_extent] = value
    return out


def class_counts(label_image: np.ndarray, plan: WindowPlan, n_classes: int) -> np.ndarray:
    """(K, N) int64 number of pixels of each class in each window of ``plan`` (windows inside the extent, e.g.
    edge "drop") over an (H, W) 0-based ``label_image``.

    Uses one summed-area table per class, so the cost does not grow with the window size.
    """
    label_image = np.asarray(label_image)
    counts = np.empty((len(plan), n_classes), dtype=np.int64)
    r0, c0 = plan.tops, plan.lefts
    r1, c1 = r0 + plan.window_shape[0], c0 + plan.window_shape[1]
    for k in range(n_classes):
        table = np.zeros((label_image.shape[0] + 1, label_image.shape[1] + 1), dtype=np.int64)
        table[1:, 1:] = np.cumsum(np.cumsum(label_image == k, axis=0), axis=1)
        counts[:, k] = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
    return counts


def tile_purity(label_image: np.ndarray, plan: WindowPlan, n_classes: int):
    """Majority class and its share for each window of ``plan`` (see ``class_counts``).

    Returns (mode (K,) int64 0-based class index, share (K,) float64 in [0, 1] = pixels of the mode / window area).
    Ties go to the lower class index.
    """
    counts = class_counts(label_image, plan, n_classes)
    mode = counts.argmax(axis=1) if len(counts) else np.zeros(0, dtype=np.int64)
    share = counts[np.arange(len(counts)), mode] / float(plan.window_shape[0] * plan.window_shape[1])
    return mode.astype(np.int64), share
