"""Matplotlib helpers shared by the report and the tasks' own figures (headless: the Agg backend)."""
from __future__ import annotations

import io
from typing import Any, Callable


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


def image_grid(examples: list[tuple[str, Any]], columns: int, draw: Callable[[Any, Any, int], None],
               cell_size: tuple[float, float], title: str) -> bytes:
    """A PNG of example images: one row per ``(name, data)``, labelled with the name, and ``columns`` bare
    axes per row, each filled by ``draw(ax, data, column)`` (the tasks' CAM, box and caption figures)."""
    fig, axes = pyplot().subplots(len(examples), columns, squeeze=False,
                                  figsize=(cell_size[0] * columns, cell_size[1] * len(examples)))
    for r, (name, data) in enumerate(examples):
        for c in range(columns):
            draw(axes[r][c], data, c)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        axes[r][0].set_ylabel(name, fontsize=7)
    fig.suptitle(title, fontsize=8)
    return figure_png(fig)
