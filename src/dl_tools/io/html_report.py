"""Self-contained HTML pages: every image embedded as a base64 ``data:`` URI, no script, no network.

Built with Python's ``html`` module: every text is escaped, so a class or file name never becomes markup. The
evaluation steps (``workflows.eval_report``) assemble their pages from these pieces and write them atomically.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .atomic import write_text_atomic

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.3em; text-align: center; vertical-align: top; }
figcaption { font-size: 0.85em; max-width: 32em; }
img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #444; margin-right: 0.3em; }
"""


def image_uri(image: np.ndarray, suffix: str = ".png") -> str:
    """A ``data:`` URI of an (H, W, 3) or (H, W) uint8 image encoded as PNG or JPEG (``suffix``)."""
    from .images import encode_image

    kind = "png" if suffix.lower() == ".png" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(encode_image(image, suffix)).decode('ascii')}"


def png_file_uri(path: str | os.PathLike) -> str:
    """A ``data:`` URI of a PNG file (e.g. a figure the step has just written)."""
    return f"data:image/png;base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def image_html(uri: str, caption: str = "", alt: str = "", width: int | None = None) -> str:
    """A ``<figure>`` of the image ``uri`` with an escaped caption (``width`` in CSS px, optional)."""
    size = f' width="{int(width)}"' if width else ""
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{html.escape(alt or caption, quote=True)}"{size}>{text}</figure>'


def table_html(header: Sequence[str], rows: Iterable[Sequence], caption: str = "") -> str:
    """A ``<table>``; every cell is escaped text, except cells given as ``Markup``."""
    def cell(tag, value):
        return f"<{tag}>{value if isinstance(value, Markup) else html.escape(str(value))}</{tag}>"

    head = "".join(cell("th", name) for name in header)
    body = "".join("<tr>" + "".join(cell("td", value) for value in row) + "</tr>" for row in rows)
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Markup(str):
    """HTML built by this module (a figure, a swatch), inserted into a table unescaped."""


def swatch(name: str, color: Sequence[int]) -> Markup:
    """A class name after a square of its colour (R, G, B 0-255)."""
    r, g, b = (int(c) for c in color)
    return Markup(f'<span class="swatch" style="background: rgb({r}, {g}, {b})"></span>{html.escape(name)}')


def paragraph(text: str, note: bool = False) -> str:
    """An escaped paragraph (in grey, smaller, for a ``note``)."""
    start = '<p class="note">' if note else "<p>"
    return f"{start}{html.escape(text)}</p>"


def page_html(title: str, sections: Sequence[tuple[str, Sequence[str]]]) -> str:
    """A whole page: ``title``, then each (heading, [HTML parts]) section."""
    body = "".join(f"<h2>{html.escape(heading)}</h2>" + "".join(parts) for heading, parts in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def write_html(path: str | os.PathLike, title: str, sections: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """Write ``page_html(title, sections)`` to ``path`` atomically; return the path."""
    return write_text_atomic(path, page_html(title, sections))
