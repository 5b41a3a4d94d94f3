"""The annotation model (dl_tools.labelling.session), driven without a display."""

from __future__ import annotations

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.labelling.session import (
    BRUSH_START,
    AnnotationSession,
    Window,
    informative_windows,
    resume_index,
    window_grid,
)

LABELS = ["water", "sand", "veg"]


def session(**kwargs):
    saved = []
    s = AnnotationSession((100, 150), LABELS, window_grid((100, 150), 60), on_save=lambda sp: saved.append(sp.copy()),
                          **kwargs)
    return s, saved


def draw(s, points, thickness=3):
    s.start_stroke(*points[0], thickness)
    for point in points[1:]:
        s.add_point(*point)
    s.end_stroke()


def test_window_grid_cuts_at_the_edges_and_clamps():
    windows = window_grid((100, 150), 60)
    assert len(windows) == 6
    assert windows[0] == Window(0, 0, 60, 60) and windows[2] == Window(0, 120, 60, 150)
    assert windows[-1] == Window(60, 120, 100, 150)
    assert window_grid((100, 150), 1000) == [Window(0, 0, 100, 150)]  # -w larger than the image: one window
    with pytest.raises(InputError):
        window_grid((10, 10), 0)


def test_flat_windows_are_skipped_unless_all_are_flat():
    image = np.zeros((100, 150, 3), np.uint8)
    windows = window_grid((100, 150), 60)
    assert informative_windows(image, windows) == windows
    image[70:80, 130:140] = 255
    assert informative_windows(image, windows) == [windows[-1]]


def test_strokes_take_the_current_class_and_stay_in_the_window():
    s, _ = session()
    draw(s, [(10, 10), (40, 10)])
    assert (s.sparse[10, 10:41] == 1).all()
    s.handle_key("\x1b")  # Esc: next class
    assert s.class_name == "sand"
    draw(s, [(50, 50), (100, 50)])  # goes out of window 0 (columns 0-59): clipped at its edge
    assert s.sparse[50, 59] == 2 and not s.sparse[:, 61:].any()
    assert "sand" in s.title() and "window 1/6" in s.title()


def test_undo_removes_only_the_last_stroke_and_restores_what_it_covered():
    s, _ = session()
    draw(s, [(10, 20), (50, 20)])
    s.select_class(2)
    draw(s, [(30, 5), (30, 40)])  # crosses the first stroke
    assert s.sparse[20, 30] == 3
    assert s.handle_key("z") == "undid the last stroke"
    assert s.sparse[20, 30] == 1 and (s.sparse == 3).sum() == 0 and (s.sparse == 1).sum() > 0
    s.handle_key("z")
    assert not s.sparse.any()
    assert s.handle_key("z") == "nothing to undo"


def test_esc_through_all_classes_moves_to_the_next_window_and_saves():
    s, saved = session()
    draw(s, [(5, 5), (9, 9)])
    for _ in LABELS:
        s.handle_key("\x1b")
    assert s.window_index == 1 and s.class_index == 0
    assert len(saved) == 1 and saved[0][5, 5] == 1


def test_back_skip_keys_and_finish():
    s, saved = session()
    s.handle_key("s")
    s.handle_key("s")
    assert s.window_index == 2
    s.handle_key("b")
    assert s.window_index == 1 and len(saved) == 3
    s.handle_key("3")
    assert s.class_name == "veg"
    s.handle_key("9")  # no class 9: ignored
    assert s.class_name == "veg"
    s.handle_key("+")
    s.handle_key("+")
    s.handle_key("-")
    assert s.brush == BRUSH_START + 1
    for _ in range(20):
        s.handle_key("-")
    assert s.brush == 1
    assert "undo" in s.handle_key("h")
    s.handle_key("f")
    assert s.finished and len(saved) == 4


def test_skipping_past_the_last_window_finishes():
    s, _ = session(start=5)
    s.handle_key("s")
    assert s.finished


def test_resume_keeps_old_strokes_which_undo_does_not_remove():
    base = np.zeros((100, 150), np.uint8)
    base[10, 70:80] = 2  # strokes in window 1 (columns 60-119)
    windows = window_grid((100, 150), 60)
    start = resume_index(base, windows)
    assert start == 2
    s, _ = session(base=base, start=start)
    draw(s, [(130, 10), (140, 10)])
    s.undo()
    s.undo()
    np.testing.assert_array_equal(s.sparse, base)
    assert resume_index(np.zeros_like(base), windows) == 0
    base[90, 140] = 1  # strokes in the last window: resume there
    assert resume_index(base, windows) == 5
    with pytest.raises(InputError, match="do not fit"):
        AnnotationSession((100, 150), LABELS, windows, base=np.zeros((10, 10), np.uint8))
