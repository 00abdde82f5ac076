"""The names of the out-of-distribution sets (torch-free, for planning): ODIN's folders, its noise, and the
smoke scale's generated stand-ins."""
from __future__ import annotations

from pathlib import Path

ODIN_FOLDERS = ("Imagenet", "Imagenet_resize", "LSUN", "LSUN_resize", "iSUN")  # as ODIN's archives unpack
NOISE = ("uniform_noise", "gaussian_noise")
GENERATED = ("textures_crop", "textures_resize", "clutter_crop", "clutter_resize", "clutter_small")


def ood_folder_candidates(root: Path, folder: str) -> tuple[Path, Path]:
    """Where ODIN's folder ``folder`` may be, in order: ``<root>/ood/<folder>``, then ``<root>/<folder>``."""
    return Path(root) / "ood" / folder, Path(root) / folder
