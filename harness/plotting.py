"""Matplotlib helpers shared by the report and the tasks' own figures (headless: the Agg backend)."""
from __future__ import annotations

import io
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def image_grid(examples: list[tuple[str, Any]], columns: int, draw: Callable[[Any, Any, int], None],
               cell_size: tuple[float, float], title: str) -> bytes:
    """A PNG of example images: one row per ``(name, data)``, labelled with the name, and ``columns`` bare
    axes per row, each filled by ``draw(ax, data, column)`` (the tasks' CAM and box figures)."""
    fig, axes = plt.subplots(len(examples), columns, figsize=(cell_size[0] * columns, cell_size[1] * len(examples)),
                             squeeze=False)
    for r, (name, data) in enumerate(examples):
        for c in range(columns):
            draw(axes[r][c], data, c)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        axes[r][0].set_ylabel(name, fontsize=7)
    fig.suptitle(title, fontsize=8)
    return figure_png(fig)
