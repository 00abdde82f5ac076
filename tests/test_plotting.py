"""The example grids the tasks draw (CAMs, boxes, captions): each cell keeps its image's aspect, boxes land on
their pixels, and nothing a cell draws spills into its neighbour."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from harness.plotting import image_grid

BLUE, RED = (0, 0, 255), (255, 0, 0)


def mask(png: bytes, colour: tuple[int, int, int]) -> np.ndarray:
    """Where the PNG's pixels are (nearly) ``colour``."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return np.abs(pixels - np.array(colour)).sum(axis=-1) < 60


def extent(where: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bounding box of ``where``."""
    rows, cols = np.nonzero(where)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_a_grid_keeps_each_images_aspect_and_puts_boxes_on_their_pixels():
    tall = np.zeros((80, 20, 3), np.uint8)
    tall[..., 2] = 255  # a blue 1:4 image in a square cell

    def draw(cell, data, c: int) -> None:
        cell.image(data)
        if c == 1:
            cell.box(-0.5, -0.5, 20, 40, "red", linewidth=2)  # the image's top half

    png = image_grid([("only row", tall)], 2, draw, (2.0, 2.0), "title")
    blue = mask(png, BLUE)
    half = blue.shape[1] // 2
    height, width = extent(blue[:, :half])
    assert height > 150 and abs(height / width - 4) < 0.3  # 4:1, fitted to the cell's height
    assert np.allclose(extent(blue[:, half:]), (height, width), atol=3)  # its red box covers a line or two
    red_height, red_width = extent(mask(png, RED))
    assert abs(red_height / red_width - 2) < 0.3  # 20 x 40 pixels of the image, drawn at its scale
    assert abs(red_height - height / 2) < 6


def test_nothing_a_cell_draws_leaves_it():
    image = np.zeros((10, 10, 3), np.uint8)
    image[..., 2] = 255  # blue, filling each square cell's picture area

    def draw(cell, data, c: int) -> None:
        cell.image(data)
        if c == 0:  # a box ten images wide and a label far to the right of the image
            cell.box(0, 0, 100, 5, "red", linewidth=3)
            cell.label(50, 5, "far away", color="red", fontsize=20)

    png = image_grid([("row", image)], 3, draw, (1.0, 1.0), "clipped")
    red, blue = mask(png, RED), mask(png, BLUE)
    first_cell_end = np.nonzero(blue.any(axis=0))[0]
    first_cell_end = first_cell_end[np.argmax(np.diff(first_cell_end) > 1)]  # the first blue block's last column
    assert red.any() and np.nonzero(red.any(axis=0))[0].max() <= first_cell_end + 2
