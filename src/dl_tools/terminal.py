"""What a person at a terminal sees besides messages: progress bars, counted nouns, and whether a display exists.

A library module (the workflows use it), so it changes no environment variable: whether bars are shown is a
context setting (``progress_shown``) that the command line sets for one call of a step and restores after it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator

_SHOW_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("dl_tools_show_progress", default=True)


@contextlib.contextmanager
def progress_shown(show: bool) -> Iterator[None]:
    """Within the block, ``progress`` bars are shown (True) or hidden (False); the previous setting afterwards."""
    token = _SHOW_PROGRESS.set(bool(show))
    try:
        yield
    finally:
        _SHOW_PROGRESS.reset(token)


def progress(iterable=None, **kwargs):
    """A tqdm progress bar on stderr, hidden inside ``progress_shown(False)`` (the scripts' ``-q``) and for nothing
    to do (``total=0``)."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not _SHOW_PROGRESS.get() or kwargs.get("total") == 0)
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def active_bars() -> list:
    """The progress bars on screen now (tqdm keeps them in a class-level set)."""
    tqdm = sys.modules.get("tqdm")
    return list(getattr(tqdm.tqdm, "_instances", ())) if tqdm is not None else []


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless n is 1: "1 image", "3 images"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def display_available() -> bool:
    """True when a graphical display can show a window or dialog (Windows, macOS, or an X/Wayland DISPLAY);
    False when the environment variable DL_TOOLS_NO_DIALOG is 1."""
    if os.environ.get("DL_TOOLS_NO_DIALOG") == "1":
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
