"""Matplotlib helpers shared by the report and the tasks' own figures (headless: the Agg backend)."""
from __future__ import annotations

import io
from typing import Any, Callable

import numpy as np


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend, imported on first use (a cached report draws nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buffer.getvalue()


class Cell:
    """One example of an :func:`image_grid`, drawn in its image's pixel coordinates: the first :meth:`image`
    fixes the cell's scale (the image fitted into the cell's picture area, its aspect kept); boxes and labels
    follow it. All cells share one axes: a grid of 60 cells drew in a tenth of the time of 60 axes."""

    def __init__(self, ax, left: float, top: float, width: float, height: float) -> None:
        from matplotlib.patches import Rectangle

        self.ax, self.left, self.top, self.width, self.height = ax, left, top, width, height
        self.transform = None
        self.clip = Rectangle((left, top), width, height, transform=ax.transData)  # nothing spills into a neighbour

    def image(self, array: np.ndarray, **style: Any) -> None:
        """Show ``array`` (``[h, w]`` or ``[h, w, 3]``) in the cell, with :meth:`matplotlib.axes.Axes.imshow`'s
        ``style`` (``cmap``, ``alpha``, ``vmin``, ``vmax``); later images cover the first one's pixels."""
        from matplotlib.transforms import Affine2D

        h, w = array.shape[:2]
        if self.transform is None:
            scale = min(self.width / w, self.height / h)
            x0, y0 = self.left + (self.width - w * scale) / 2, self.top + (self.height - h * scale) / 2
            self.transform = Affine2D().translate(0.5, 0.5).scale(scale).translate(x0, y0) + self.ax.transData
        shown = self.ax.imshow(array, extent=(-0.5, w - 0.5, h - 0.5, -0.5), transform=self.transform,
                               interpolation="nearest", aspect="auto", **style)
        shown.set_clip_path(self.clip)

    def box(self, x: float, y: float, width: float, height: float, colour: str, **style: Any) -> None:
        """An unfilled rectangle from corner ``(x, y)`` in image pixels (``linestyle``, ``linewidth`` in style)."""
        from matplotlib.patches import Rectangle

        self.ax.add_patch(Rectangle((x, y), width, height, fill=False, edgecolor=colour, transform=self.transform,
                                    **{"linewidth": 1.0, **style})).set_clip_path(self.clip)

    def label(self, x: float, y: float, text: str, **style: Any) -> None:
        """``text`` at image pixel ``(x, y)`` (matplotlib text ``style``: fontsize, colour, bbox)."""
        self.ax.text(x, y, text, transform=self.transform, clip_on=True, **style).set_clip_path(self.clip)

    def caption(self, text: str, fontsize: float = 6) -> None:
        """``text`` centred under the cell's picture area."""
        self.ax.text(self.left + self.width / 2, self.top + self.height + 0.05, text, ha="center", va="top",
                     fontsize=fontsize)


def image_grid(examples: list[tuple[str, Any]], columns: int, draw: Callable[[Cell, Any, int], None],
               cell_size: tuple[float, float], title: str, picture_height: float | None = None) -> bytes:
    """A PNG of example images: one row per ``(name, data)``, labelled with the name, and ``columns`` cells per
    row (``cell_size`` inches each), each filled by ``draw(cell, data, column)`` (the tasks' CAM, box and
    caption figures). ``picture_height``: the inches of a cell its pictures fill (all of it by default; less
    leaves room for a :meth:`Cell.caption`)."""
    width, height = cell_size
    picture_height = height if picture_height is None else picture_height
    fig = pyplot().figure(figsize=(width * columns, height * len(examples)))
    ax = fig.add_axes((0, 0, 1, 1))  # one data unit = one inch, y downwards
    ax.set_axis_off()
    margin = 0.04
    for r, (name, data) in enumerate(examples):
        for c in range(columns):
            draw(Cell(ax, c * width + margin, r * height + margin, width - 2 * margin, picture_height - 2 * margin),
                 data, c)
        ax.text(-0.05, r * height + picture_height / 2, name, rotation=90, ha="right", va="center", fontsize=7)
    ax.set_xlim(0, width * columns)
    ax.set_ylim(height * len(examples), 0)
    fig.suptitle(title, fontsize=8, y=1.0, va="bottom")
    return figure_png(fig)
