"""OpenCV front end of the labelling tool: shows an ``AnnotationSession`` and feeds it mouse and key events.

Two windows: "whole image" (the image fitted to the screen, the active window marked with a blue rectangle) and
the class window (the active window, enlarged or reduced to fit the screen, titled with the class to draw, all
strokes shown in their class colours). The help text is printed at start.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .session import AnnotationSession

OVERVIEW = "whole image"
CLASS_WINDOW = "annotate"
DEFAULT_SCREEN = (800, 1280)  # (height, width) when the screen size cannot be found


def require_display() -> None:
    """InputError unless a display can show the windows (without one, OpenCV's Qt aborts the whole process)."""
    from ..terminal import display_available

    if not display_available():
        raise InputError("no display for the labelling windows; give --scribbles FILE.png (strokes drawn in any "
                         "paint program) or run where a display exists")


def screen_size() -> tuple[int, int]:
    """(height, width) of the screen in pixels, from Tk; DEFAULT_SCREEN when that fails."""
    try:
        import tkinter

        root = tkinter.Tk()
        root.withdraw()
        size = root.winfo_screenheight(), root.winfo_screenwidth()
        root.destroy()
        return size
    except Exception:  # no Tk, no display: a safe default
        return DEFAULT_SCREEN


def fit_factor(shape: tuple[int, int], box: tuple[int, int]) -> float:
    """Zoom that fits an (h, w) picture into a (height, width) box, keeping the aspect ratio."""
    return min(box[0] / shape[0], box[1] / shape[1])


def _resize(image: np.ndarray, factor: float, nearest: bool = False) -> np.ndarray:
    import cv2

    size = (max(1, int(round(image.shape[1] * factor))), max(1, int(round(image.shape[0] * factor))))
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return cv2.resize(image, size, interpolation=interp)


#: opacity of the strokes, and of a model's proposal under them, over the image in the class window
STROKE_ALPHA, PROPOSAL_ALPHA = 0.85, 0.35


def class_window_view(crop: np.ndarray, strokes: np.ndarray, proposal: np.ndarray | None,
                      colors: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB shown in the class window: the (h, w, 3) ``crop`` of the image, under the (h, w)
    ``proposal`` of a model (0-based classes, lightly) when given, under the (h, w) ``strokes`` (0-based classes,
    N = none)."""
    from ..plotting import label_overlay

    base = crop if proposal is None else label_overlay(crop, proposal, colors, alpha=PROPOSAL_ALPHA)
    return label_overlay(base, strokes, colors, alpha=STROKE_ALPHA)


class LabellingWindows:
    """The two OpenCV windows of one session. ``image`` (H, W, 3) uint8 RGB, ``colors`` (N, 3) uint8 RGB."""

    def __init__(self, image: np.ndarray, colors: np.ndarray, session: AnnotationSession,
                 screen: tuple[int, int] | None = None):
        self.image = image
        self.colors = np.asarray(colors, dtype=np.uint8)
        self.session = session
        screen = screen or screen_size()
        # overview: a third of the screen width; class window: the rest, both within the screen height
        self.overview_factor = fit_factor(image.shape[:2], (int(screen[0] * 0.4), int(screen[1] * 0.3)))
        self.overview = _resize(image, self.overview_factor)[:, :, ::-1].copy()
        self.box = (int(screen[0] * 0.85), int(screen[1] * 0.65))
        self.factor = 1.0
        self.drawing = False
        self._shown_window = None

    def _window_view(self):
        w = self.session.window
        if self._shown_window != self.session.window_index:
            self.factor = fit_factor((w.bottom - w.top, w.right - w.left), self.box)
            self.crop = _resize(self.image[w.slices], self.factor)
            proposal = self.session.proposal
            self.proposal_crop = None if proposal is None else _resize(proposal[w.slices], self.factor, nearest=True)
            self._shown_window = self.session.window_index
        return w

    def render(self) -> None:
        import cv2

        w = self._window_view()
        strokes = _resize(self.session.sparse[w.slices], self.factor, nearest=True)
        strokes = np.where(strokes > 0, strokes.astype(np.int32) - 1, len(self.colors))
        shown = class_window_view(self.crop, strokes, self.proposal_crop if self.session.show_proposal else None,
                                  self.colors)
        cv2.imshow(CLASS_WINDOW, np.ascontiguousarray(shown[:, :, ::-1]))
        cv2.setWindowTitle(CLASS_WINDOW, self.session.title())
        overview = self.overview.copy()
        f = self.overview_factor
        cv2.rectangle(overview, (int(w.left * f), int(w.top * f)), (int(w.right * f) - 1, int(w.bottom * f) - 1),
                      (255, 0, 0), 2)
        cv2.imshow(OVERVIEW, overview)

    def on_mouse(self, event, x, y, flags, param) -> None:
        import cv2

        w = self.session.window
        fx, fy = w.left + x / self.factor, w.top + y / self.factor
        if event == cv2.EVENT_LBUTTONDOWN:
            self.drawing = True
            self.session.start_stroke(int(fx), int(fy), max(1, round(self.session.brush / self.factor)))
        elif event == cv2.EVENT_MOUSEMOVE and self.drawing:
            self.session.add_point(int(fx), int(fy))
        elif event == cv2.EVENT_LBUTTONUP and self.drawing:
            self.session.add_point(int(fx), int(fy))
            self.session.end_stroke()
            self.drawing = False
        else:
            return
        self.render()

    def run(self) -> None:
        """Show the windows until the session is finished (last window done, or ``f``)."""
        import cv2

        print(self.session.help_text(), flush=True)
        cv2.namedWindow(OVERVIEW, cv2.WINDOW_AUTOSIZE)
        cv2.namedWindow(CLASS_WINDOW, cv2.WINDOW_AUTOSIZE)
        cv2.moveWindow(CLASS_WINDOW, 0, 0)
        cv2.moveWindow(OVERVIEW, int(self.box[1]) + 10, 0)
        cv2.setMouseCallback(CLASS_WINDOW, self.on_mouse)
        try:
            while not self.session.finished:
                self.render()
                code = cv2.waitKey(50)
                if code < 0:
                    continue
                message = self.session.handle_key(chr(code & 0xFF))
                if message:
                    print(message, flush=True)
        finally:
            cv2.destroyAllWindows()
            cv2.waitKey(1)


def annotate(image: np.ndarray, colors: np.ndarray, session: AnnotationSession) -> None:
    """Run the interactive annotation of ``session`` on ``image`` until it is finished (InputError without a
    display)."""
    require_display()
    LabellingWindows(image, colors, session).run()
