"""Caption data: MS-COCO through pycocotools' COCO API (Karpathy's split when ``dataset_coco.json`` is there,
else the official train/val), or the embedded generated set, whose images carry one caption each."""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PIL import Image
from torch.utils.data import Dataset, Subset

from harness.errors import DataNotFoundError, UnknownNameError

YEARS = ("2014", "2017")
KARPATHY_SPLIT = "dataset_coco.json"


@dataclass
class CaptionSplit:
    """The images of a split (a data set of transformed image tensors), their ids and reference captions."""

    images: Dataset
    image_ids: list[int]
    references: list[list[str]]

    def first(self, count: int | None) -> CaptionSplit:
        """The split's first ``count`` images (all where ``count`` is None): a rehearsal's fixed part."""
        if count is None or count >= len(self.image_ids):
            return self
        return CaptionSplit(Subset(self.images, range(count)), self.image_ids[:count], self.references[:count])


class ImageFiles(Dataset):
    """Image files read as RGB and transformed."""

    def __init__(self, paths: list[Path], transform: Callable) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Any:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB"))


def locate_coco(root: Path) -> tuple[Path, str]:
    """The COCO folder under ``root`` (``root/coco`` or ``root`` itself) and its year; a one-line error naming the
    files to put there otherwise. Cheap: nothing is opened."""
    root = Path(root)
    for folder in (root / "coco", root):
        for year in YEARS:
            annotations = [folder / "annotations" / f"captions_{split}{year}.json" for split in ("train", "val")]
            if all(a.is_file() for a in annotations):
                missing = [f"{split}{year}/" for split in ("train", "val") if not (folder / f"{split}{year}").is_dir()]
                if missing:
                    raise DataNotFoundError(f"MS-COCO in {folder} lacks the image folder(s) {', '.join(missing)}")
                return folder, year
    raise DataNotFoundError(
        f"MS-COCO captions not found under {root}: put annotations/captions_train2014.json, "
        f"annotations/captions_val2014.json, train2014/ and val2014/ in {root / 'coco'} (add Karpathy's "
        f"{KARPATHY_SPLIT} there for his 113,287/5,000/5,000 split)")


def _coco(path: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its loading times
        return COCO(str(path))


def load_coco(root: Path, transform: Callable) -> dict[str, CaptionSplit]:
    """``{"train": ..., "test": ...}`` of MS-COCO: Karpathy's train+restval / test when his split file is in the
    COCO folder, else the official train / val images. References are every caption the COCO API gives."""
    folder, year = locate_coco(root)
    apis = {split: _coco(folder / "annotations" / f"captions_{split}{year}.json") for split in ("train", "val")}
    by_id = {image_id: (api, f"{split}{year}") for split, api in apis.items() for image_id in api.getImgIds()}
    karpathy = folder / KARPATHY_SPLIT
    if karpathy.is_file():
        chosen = {"train": [], "test": []}
        for image in json.loads(karpathy.read_text())["images"]:
            which = {"train": "train", "restval": "train", "test": "test"}.get(image["split"])
            if which:
                chosen[which].append(image["cocoid"])
    else:
        chosen = {"train": sorted(apis["train"].getImgIds()), "test": sorted(apis["val"].getImgIds())}
    splits = {}
    for name, ids in chosen.items():
        ids = [i for i in ids if i in by_id]
        paths = [folder / by_id[i][1] / by_id[i][0].imgs[i]["file_name"] for i in ids]
        references = [[a["caption"].strip() for a in by_id[i][0].imgToAnns[i]] for i in ids]
        splits[name] = CaptionSplit(ImageFiles(paths, transform), ids, references)
    return splits


def load_caption_data(dataset: str, root: Path, image_size: int, subsets: dict[str, int] | None = None) -> dict[str, CaptionSplit]:
    """The train/test caption splits of ``dataset`` (``coco`` or ``synthetic``), images transformed for the
    encoder at ``image_size`` (evaluation transform: features are computed once, without augmentation);
    ``subsets`` (``{"train": n, "test": m}``) keeps the first images of a split."""
    splits = _caption_splits(dataset, root, image_size)
    return {name: split.first((subsets or {}).get(name)) for name, split in splits.items()}


def _caption_splits(dataset: str, root: Path, image_size: int) -> dict[str, CaptionSplit]:
    """:func:`load_caption_data`'s splits, whole."""
    from harness.data import build_datasets
    from harness.data.transforms import imagenet_transforms

    if dataset == "coco":
        return load_coco(root, imagenet_transforms(image_size, resize=round(image_size * 256 / 224))[1])
    if dataset == "synthetic":
        bundle = build_datasets("synthetic", root, image_size=image_size)
        train = type(bundle.train)(Path(bundle.train.root).parent, "train", bundle.test.transform)
        return {name: CaptionSplit(split, list(range(len(split))), [[c] for c in split.captions])
                for name, split in (("train", train), ("test", bundle.test))}
    raise UnknownNameError(f"unknown caption data set {dataset!r}; known: coco, synthetic")
