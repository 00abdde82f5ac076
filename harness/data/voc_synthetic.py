"""The embedded detection set: the generated shape classes, several objects per image, written in Pascal
VOC's layout so that MMDetection's own ``VOCDataset`` and the VOC07 metric read it unchanged.

Objects are drawn like the classification set's (same classes, textures, colours, clutter), 2-4 per image
with little overlap; those smaller than ``difficult_side`` are marked ``difficult`` (ignored by the metric,
as VOC's hard objects are).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.data.synthetic import CLASSES, background, draw_object, to_image
from harness.data.voc import VocObject, annotation_xml
from harness.io import atomic_directory, atomic_write_json
from harness.localization.boxes import iou

FORMAT_VERSION = 1
YEAR_SET = "VOC2007"


@dataclass(frozen=True)
class VocSyntheticSpec:
    image_size: int = 128
    trainval_images: int = 400
    test_images: int = 100
    min_objects: int = 2
    max_objects: int = 4
    min_side: float = 0.1  # object side as a fraction of the image side
    max_side: float = 0.45
    difficult_side: float = 0.15  # objects smaller than this are "difficult"
    max_overlap: float = 0.2  # IoU allowed between two objects of an image
    seed: int = 0

    @property
    def folder_name(self) -> str:
        return (f"synthetic-voc-v{FORMAT_VERSION}-s{self.image_size}-n{self.trainval_images}x{self.test_images}"
                f"-seed{self.seed}")


def render_scene(rng: np.random.Generator, spec: VocSyntheticSpec):
    """One image (PIL) and its objects (VOC 1-based inclusive boxes)."""
    size = spec.image_size
    canvas = background(rng, size)
    objects: list[VocObject] = []
    boxes: list[tuple] = []
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        for _attempt in range(20):  # find a place that overlaps the others little
            side = rng.uniform(spec.min_side, spec.max_side) * size
            cx, cy = rng.uniform(side / 2, size - side / 2, 2)
            box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
            if (iou([box], boxes) <= spec.max_overlap).all():
                break
        else:
            continue
        label = int(rng.integers(len(CLASSES)))
        drawn = draw_object(rng, size, label, cx, cy, side / 2)
        if drawn is None:
            continue
        fill, alpha, (x1, y1, x2, y2), _ = drawn
        canvas = canvas * (1 - alpha) + fill * alpha
        boxes.append(box)
        # PIL's box is 0-based with exclusive x2/y2; VOC's is 1-based inclusive: x1 + 1, x2 (= x2 - 1 + 1).
        objects.append(VocObject(CLASSES[label], (x1 + 1, y1 + 1, x2, y2), side < spec.difficult_side * size))
    return to_image(canvas), objects


def generate_voc(root: Path, spec: VocSyntheticSpec = VocSyntheticSpec()) -> Path:
    """Write the set under ``root/spec.folder_name`` (atomically) and return its ``VOCdevkit`` folder."""
    target = Path(root) / spec.folder_name
    devkit = target / "VOCdevkit"
    if (target / "spec.json").is_file():
        return devkit
    with atomic_directory(target) as staging:
        base = staging / "VOCdevkit" / YEAR_SET
        for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
            (base / sub).mkdir(parents=True)
        for split, count, split_seed in (("trainval", spec.trainval_images, 0), ("test", spec.test_images, 1)):
            rng = np.random.default_rng([spec.seed, split_seed, 7])
            ids = [f"{split}_{i:05d}" for i in range(count)]
            for image_id in ids:
                image, objects = render_scene(rng, spec)
                image.save(base / "JPEGImages" / f"{image_id}.jpg", quality=95)
                (base / "Annotations" / f"{image_id}.xml").write_text(
                    annotation_xml(image_id, YEAR_SET, spec.image_size, spec.image_size, objects))
            (base / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        atomic_write_json(staging / "spec.json", asdict(spec))
    return devkit
