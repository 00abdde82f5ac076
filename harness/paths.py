"""Where the project's own folders are (a module of its own so that every layer can import it)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run from the repository (python run_all.py, or an editable install), or installed from a wheel, whose copy of
# experiments/ is the package data harness/experiments_data (pyproject.toml maps the folder there).
IN_CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "experiments").is_dir()
# protocols.yaml, tables/, detection/ configs, the paper's figures, slurm/example.yaml
EXPERIMENTS = ROOT / "experiments" if IN_CHECKOUT else Path(__file__).resolve().parent / "experiments_data"


def output_folder() -> Path:
    """Where ``results/`` and ``reports/`` go unless ``--results`` and ``--reports`` say otherwise: the checkout's
    root when run from it, else the current folder."""
    return ROOT if IN_CHECKOUT else Path.cwd()


def experiment_file(name: str) -> Path:
    """A file of the experiments folder by its relative path (``detection/ssd300_r50_voc0712.py``), or an
    absolute path as it is."""
    path = Path(name)
    return path if path.is_absolute() else EXPERIMENTS / path


def default_data_root() -> Path:
    """Where data live unless ``--data-root`` says otherwise: ``$MIXBENCH_DATA`` or ``~/.cache/mixbench``."""
    return Path(os.environ.get("MIXBENCH_DATA", Path.home() / ".cache" / "mixbench"))


def data_root(root: str | Path | None) -> Path:
    """``root`` (a job's ``data_root`` or ``--data-root``) as a path, or :func:`default_data_root` where none is given."""
    return Path(root) if root is not None else default_data_root()


DATA_NAMES = ("cifar10", "cifar100", "imagenet", "imagenet_loc", "cub", "voc", "coco", "ood")  # --data NAME=PATH
CONVENTIONAL = {  # a data set's own folder under the data root, and what shows that it is there
    "imagenet": ("imagenet", "train"),  # imagenet/{train,val}
    "imagenet_loc": ("imagenet", "metadata"),  # imagenet/{train,val,metadata}
    "cub": ("CUB_200_2011", "images.txt"),  # as CUB-200-2011 unpacks
}


def dataset_folder(name: str, root: str | Path | None, given: dict[str, str] | None = None) -> tuple[Path, str]:
    """(the folder the loader of data set ``name`` reads, how it was chosen): ``--data NAME=PATH``; else its
    conventional folder under the data root where it is there (``CUB_200_2011/``, ``imagenet/``); else the data
    root itself (the flat layouts, and every data set that finds its own folder under it: torchvision's
    ``cifar-10-batches-py/``, ``VOCdevkit/``, ``coco/``, ``ood/``)."""
    if given and name in given:
        return Path(given[name]), "--data"
    base = data_root(root)
    folder, marker = CONVENTIONAL.get(name, (None, None))
    if folder and (base / folder / marker).exists():
        return base / folder, f"{folder}/ under the data root"
    return base, "the data root"
