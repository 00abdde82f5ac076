"""The embedded default data set: seeded shapes on cluttered, textured backgrounds (no download).

Ten classes, each a shape with its own fill texture ("class-specific structure"); colour, size, position,
a small rotation and the background clutter vary independently of the class, so every cue lies on the
object. Each image records its object's tight bounding box (for CAM
localization and detection) and a caption derived from its attributes (for captioning).

On disk it is an ImageFolder tree plus an annotation file, so the real loaders read it unchanged:
    <root>/train/<class>/<id>.png, <root>/val/<class>/<id>.png
    <root>/annotations.csv   split,path,label,class_name,x1,y1,x2,y2,caption   (boxes in pixels, x2/y2 exclusive)
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from harness.io import atomic_directory, atomic_write_json

# Sorted, so that ImageFolder's label order (alphabetical folders) is the generator's.
CLASSES = ("cross", "diamond", "disk", "frame", "hexagon", "plus", "ring", "square", "star", "triangle")
COLOURS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40),
    "purple": (150, 60, 190), "orange": (240, 140, 30), "cyan": (40, 200, 210), "white": (240, 240, 240),
}
# Each class has its own fill texture besides its shape ("class-specific structure"): a CNN picks texture up
# within a few epochs, and both cues lie inside the object's box, so cut-and-paste and CAM stay meaningful.
CLASS_TEXTURES = ("checked", "dotted", "plain", "gridded", "ringed", "striped", "hatched", "barred", "speckled", "zigzag")
FORMAT_VERSION = 3
MAX_ROTATION = 0.25  # radians


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate; the folder name is derived from it, so changed settings never reuse stale files."""

    image_size: int = 64
    train_per_class: int = 120
    val_per_class: int = 40
    seed: int = 0
    min_side: float = 0.35  # object side as a fraction of the image side: covers ~10-40% of the area
    max_side: float = 0.65

    @property
    def folder_name(self) -> str:
        return (f"synthetic-v{FORMAT_VERSION}-s{self.image_size}-n{self.train_per_class}x{self.val_per_class}"
                f"-seed{self.seed}")


def _shape_polygon(cls: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]] | None:
    """Vertices of the polygonal shapes (None for the round ones), rotated by ``angle``."""

    def polar(radii: list[float], offset: float) -> list[tuple[float, float]]:
        n = len(radii)
        return [(cx + rr * math.cos(angle + offset + 2 * math.pi * i / n),
                 cy + rr * math.sin(angle + offset + 2 * math.pi * i / n)) for i, rr in enumerate(radii)]

    if cls == "square":
        return polar([r] * 4, math.pi / 4)
    if cls == "triangle":
        return polar([r] * 3, -math.pi / 2)
    if cls == "diamond":
        return polar([r, r * 0.6, r, r * 0.6], 0.0)
    if cls == "hexagon":
        return polar([r] * 6, 0.0)
    if cls == "star":
        return polar([r, r * 0.42] * 5, -math.pi / 2)
    if cls in ("plus", "cross"):
        w = r * 0.32
        arm = [(w, r), (w, w), (r, w), (r, -w), (w, -w), (w, -r), (-w, -r), (-w, -w), (-r, -w), (-r, w), (-w, w), (-w, r)]
        rot = angle + (math.pi / 4 if cls == "cross" else 0.0)
        c, s = math.cos(rot), math.sin(rot)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in arm]
    return None


def _object_mask(cls: str, size: int, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    """A binary mask (mode 'L') of one object."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    polygon = _shape_polygon(cls, cx, cy, r, angle)
    if polygon is not None:
        draw.polygon(polygon, fill=255)
    elif cls in ("disk", "ring"):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    if cls == "ring":
        draw.ellipse([cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55], fill=0)
    if cls == "frame":
        draw.polygon(_shape_polygon("square", cx, cy, r, angle), fill=255)
        draw.polygon(_shape_polygon("square", cx, cy, r * 0.55, angle), fill=0)
    return mask


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Clutter: a colour gradient, random lines and small blobs, and pixel noise."""
    base = rng.uniform(40, 200, 3)
    tilt = rng.uniform(-60, 60, 3)
    ramp = np.linspace(-0.5, 0.5, size)
    img = base + tilt * ramp[None, :, None] * rng.choice([-1, 1]) + tilt * ramp[:, None, None] * rng.uniform(-1, 1)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(4, 9)):
        pts = rng.uniform(0, size, 4)
        draw.line(list(pts), fill=tuple(int(v) for v in rng.uniform(0, 255, 3)), width=int(rng.integers(1, 3)))
    for _ in range(rng.integers(2, 6)):
        x, y = rng.uniform(0, size, 2)
        rr = rng.uniform(1, size * 0.05)
        draw.ellipse([x - rr, y - rr, x + rr, y + rr], fill=tuple(int(v) for v in rng.uniform(0, 255, 3)))
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 12, (size, size, 3))
    return noisy


def texture_pattern(rng: np.random.Generator, name: str, size: int, cx: float, cy: float) -> np.ndarray:
    """Multiplicative texture of the object's fill (1 = full colour), with a random phase."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    yy += rng.uniform(0, 8)
    xx += rng.uniform(0, 8)
    period = 6.0
    dark = 0.35
    on = {
        "plain": np.zeros_like(xx, dtype=bool),
        "striped": (yy % period) < period / 2,  # horizontal stripes
        "barred": (xx % period) < period / 2,  # vertical bars
        "hatched": ((xx + yy) % period) < period / 2,  # diagonal
        "zigzag": (np.abs((xx % period) - period / 2) + (yy % period)) % period < period / 2,
        "checked": ((xx // 4 + yy // 4) % 2) == 0,
        "dotted": ((xx % period) < 2) & ((yy % period) < 2),
        "gridded": ((xx % period) < 1.5) | ((yy % period) < 1.5),
        "ringed": (np.hypot(xx - cx, yy - cy) % period) < period / 2,
        "speckled": rng.random((size, size)) < 0.3,
    }[name]
    return np.where(on, dark, 1.0).astype(np.float32)


def draw_object(rng: np.random.Generator, size: int, label: int, cx: float, cy: float, r: float
                ) -> tuple[np.ndarray, np.ndarray, tuple, str] | None:
    """One object of class ``label`` (centre, half-side ``r``) on a ``size`` canvas: its fill (HxWx3), its
    alpha (HxWx1), tight box (x1, y1, x2, y2) and colour name; None if it misses the canvas."""
    # Small rotations only: plus/cross and square/diamond differ by their orientation.
    mask = _object_mask(CLASSES[label], size, cx, cy, r, rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    box = mask.getbbox()
    if box is None:
        return None
    colour_name = str(rng.choice(list(COLOURS)))
    colour = np.asarray(COLOURS[colour_name], np.float32) * rng.uniform(0.8, 1.1)
    fill = colour[None, None, :] * texture_pattern(rng, CLASS_TEXTURES[label], size, cx, cy)[..., None]
    return fill, np.asarray(mask, np.float32)[..., None] / 255.0, box, colour_name


def to_image(canvas: np.ndarray) -> Image.Image:
    """A float canvas (HxWx3, 0-255) as an 8-bit image."""
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))


def render_sample(rng: np.random.Generator, label: int, spec: SyntheticSpec) -> tuple[Image.Image, tuple, str]:
    """One image of class ``label``: (PIL image, tight box (x1, y1, x2, y2), caption)."""
    size = spec.image_size
    side = rng.uniform(spec.min_side, spec.max_side) * size
    r = side / 2
    cx, cy = rng.uniform(r * 0.8, size - r * 0.8, 2)  # may touch the border, stays mostly inside
    drawn = draw_object(rng, size, label, cx, cy, r)
    if drawn is None:  # cannot happen for these sizes; keep the generator total all the same
        return render_sample(rng, label, spec)
    fill, alpha, box, colour_name = drawn
    canvas = background(rng, size) * (1 - alpha) + fill * alpha
    area = (box[2] - box[0]) * (box[3] - box[1]) / size**2
    size_word = "large" if area > 0.3 else "small" if area < 0.15 else "medium"
    vertical = "top" if cy < size / 3 else "bottom" if cy > 2 * size / 3 else "middle"
    horizontal = "left" if cx < size / 3 else "right" if cx > 2 * size / 3 else "centre"
    where = "centre" if (vertical, horizontal) == ("middle", "centre") else f"{vertical} {horizontal}"
    caption = f"a {size_word} {CLASS_TEXTURES[label]} {colour_name} {CLASSES[label]} in the {where}"
    return to_image(canvas), box, caption


def generate(root: Path, spec: SyntheticSpec) -> Path:
    """Write the data set into ``root/spec.folder_name`` (atomically: a finished folder or nothing)."""
    target = Path(root) / spec.folder_name
    if (target / "annotations.csv").is_file():
        return target
    with atomic_directory(target) as staging:
        rows = []
        for split, per_class, split_seed in (("train", spec.train_per_class, 0), ("val", spec.val_per_class, 1)):
            rng = np.random.default_rng([spec.seed, split_seed])
            for index in range(per_class * len(CLASSES)):
                label = index % len(CLASSES)
                image, box, caption = render_sample(rng, label, spec)
                rel = Path(split) / CLASSES[label] / f"{index:05d}.png"
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                image.save(staging / rel)
                rows.append([split, rel.as_posix(), label, CLASSES[label], *box, caption])
        with open(staging / "annotations.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["split", "path", "label", "class_name", "x1", "y1", "x2", "y2", "caption"])
            writer.writerows(rows)
        atomic_write_json(staging / "spec.json", asdict(spec))
    return target
