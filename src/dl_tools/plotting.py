"""Figures, returned as matplotlib Figures (never shown); the workflows save them.

Uses the non-interactive Agg canvas, so no display is needed.
"""

from __future__ import annotations

import numpy as np


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def confusion_figure(confusion: np.ndarray, labels: list[str], title: str = "", cmap: str = "Greens"):
    """Row-normalised confusion matrix (rows = truth), class names on both axes, each cell annotated."""
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(labels)
    size = max(4.0, 0.6 * n + 2.5)
    names = 0.075 * max(len(name) for name in labels)  # inches taken by the longest class name at 10 pt
    fig = _new_figure((size + 1.0 + names, size + 0.7 * names))  # the estimated names are turned 45 degrees
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("Estimated label")
    ax.set_ylabel("True label")
    if title:
        ax.set_title(title)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    return fig


def label_overlay(image: np.ndarray, label_image: np.ndarray, colors: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 image blended with the class colours of an (H, W) label map; values >= N stay unblended."""
    colors = np.asarray(colors, dtype=np.float32)
    label_image = np.asarray(label_image)
    valid = label_image < len(colors)
    painted = colors[np.where(valid, label_image, 0)]
    blended = np.where(valid[..., None], (1 - alpha) * image + alpha * painted, image)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def class_palette(n_classes: int) -> np.ndarray:
    """(N, 3) uint8 distinct colours, one per class (matplotlib's ``tab10``, ``tab20`` beyond 10 classes, repeated
    beyond 20), for label maps whose files carry no colours."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n_classes <= 10 else "tab20"]
    return np.rint(np.array([cmap(k % cmap.N)[:3] for k in range(n_classes)]) * 255).astype(np.uint8)


def colorize(label_image: np.ndarray, colors: np.ndarray, fill=(0, 0, 0)) -> np.ndarray:
    """(H, W) class map -> (H, W, 3) uint8 colour image; values >= N get ``fill``."""
    palette = np.vstack([np.asarray(colors, dtype=np.uint8), np.asarray(fill, dtype=np.uint8)[None]])
    index = np.minimum(np.asarray(label_image), len(colors))
    return palette[index]


def add_legend(ax, labels: list[str], colors: np.ndarray, **kwargs) -> None:
    """A legend of class names with their colour patches on ``ax``."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=np.asarray(c) / 255.0, edgecolor="black", label=name) for name, c in zip(labels, colors)]
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.01, 1.0))
    kwargs.setdefault("fontsize", 8)
    ax.legend(handles=handles, **kwargs)


def panels_figure(panels: list[tuple[str, np.ndarray]], labels: list[str] | None = None,
                  colors: np.ndarray | None = None, title: str = ""):
    """Side-by-side RGB panels (title, (H, W, 3) uint8) with an optional class legend on the last one."""
    height, width = panels[0][1].shape[:2]
    panel_width = 5.0
    fig = _new_figure((panel_width * len(panels) + (2.5 if labels else 0), panel_width * height / width + 0.8))
    axes = fig.subplots(1, len(panels))
    axes = np.atleast_1d(axes)
    for ax, (name, image) in zip(axes, panels):
        ax.imshow(image)
        ax.set_title(name)
        ax.set_axis_off()
    if labels is not None and colors is not None:
        add_legend(axes[-1], labels, colors)
    if title:
        fig.suptitle(title)
    return fig


def training_curves_figure(history: dict[str, list[float]], panels: list[tuple[str, list[str]]], title: str = ""):
    """One panel per (panel title, [series names]) of per-epoch values in ``history`` (name -> values, epoch 1..n);
    series missing from ``history`` are skipped."""
    fig = _new_figure((5.0 * len(panels), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (panel_title, names) in zip(axes, panels):
        for name in names:
            values = history.get(name)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(panel_title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
