"""Pascal VOC's on-disk layout (what MMDetection's ``VOCDataset`` reads), checked before a detection run:

    <root>/VOCdevkit/VOC2007/Annotations/<id>.xml      one <object> per box: name, difficult, bndbox (1-based)
    <root>/VOCdevkit/VOC2007/JPEGImages/<id>.jpg
    <root>/VOCdevkit/VOC2007/ImageSets/Main/{trainval,test}.txt
    <root>/VOCdevkit/VOC2012/...                        (trainval only)
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DataNotFoundError

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")


@dataclass(frozen=True)
class VocObject:
    """One annotated box: class name, (xmin, ymin, xmax, ymax) in VOC's 1-based inclusive pixels, difficult."""

    name: str
    box: tuple[int, int, int, int]
    difficult: bool


def read_annotation(xml_path: Path) -> tuple[tuple[int, int], list[VocObject]]:
    """(width, height) and the objects of one VOC annotation file."""
    root = ET.parse(xml_path).getroot()
    size = root.find("size")
    width, height = int(size.find("width").text), int(size.find("height").text)
    objects = []
    for obj in root.findall("object"):
        bndbox = obj.find("bndbox")
        box = tuple(int(float(bndbox.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax"))
        difficult = obj.find("difficult")
        objects.append(VocObject(obj.find("name").text, box, difficult is not None and difficult.text.strip() == "1"))
    return (width, height), objects


def annotation_xml(image_id: str, folder: str, width: int, height: int, objects: list[VocObject]) -> str:
    """A VOC annotation file's text."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    for key, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for item in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = item.name
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = str(int(item.difficult))
        bndbox = ET.SubElement(obj, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), item.box):
            ET.SubElement(bndbox, key).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def image_ids(devkit: Path, year_set: str, split: str) -> list[str]:
    """The image ids of ``VOC<year>/ImageSets/Main/<split>.txt``."""
    return (devkit / year_set / "ImageSets" / "Main" / f"{split}.txt").read_text().split()


def check_voc(devkit: Path, splits: dict[str, list[str]]) -> None:
    """Fail with one actionable line unless every ``{year_set: [split, ...]}`` is present under ``devkit``."""
    for year_set, names in splits.items():
        base = devkit / year_set
        missing = [str(base / sub) for sub in ("Annotations", "JPEGImages") if not (base / sub).is_dir()]
        missing += [str(base / "ImageSets" / "Main" / f"{n}.txt") for n in names
                    if not (base / "ImageSets" / "Main" / f"{n}.txt").is_file()]
        if missing:
            raise DataNotFoundError(
                f"Pascal VOC not found: missing {missing[0]}{' and more' if len(missing) > 1 else ''}. Put VOCdevkit "
                f"(VOC2007 trainval+test, VOC2012 trainval, from host.robots.ox.ac.uk/pascal/VOC) under the data root "
                f"(--data-root or $MIXBENCH_DATA), so that {devkit}/VOC2007/Annotations exists")
