"""Writing matplotlib Figures to image files, atomically."""

from __future__ import annotations

from .atomic import atomic_path


def save_figure(fig, path, dpi: int = 150):
    """Save a Figure atomically (PNG by extension) and return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=str(path).rsplit(".", 1)[-1])
    return path
