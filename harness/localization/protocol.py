"""The settings that name a WSOL evaluation (threshold, evaluation transform), without importing torch."""
from __future__ import annotations

from harness.errors import UnknownNameError

PAPER_THRESHOLD = 0.15  # sigma of the CutMix paper
RESIZE, CROP = 256, 224
EXAMPLES = "cam_examples.npz"  # the test images, CAMs and boxes a run saves for the report's figure
EVAL_TRANSFORMS = {"paper": (RESIZE, CROP), "wsolevaluation": (224, 224)}  # name -> (square resize, centre crop)


def eval_sizes(name: str) -> tuple[int, int]:
    """(resize, crop) of a named evaluation transform."""
    if name not in EVAL_TRANSFORMS:
        raise UnknownNameError(f"unknown WSOL evaluation transform {name!r}; known: {', '.join(EVAL_TRANSFORMS)}")
    return EVAL_TRANSFORMS[name]


def describe_transform(name: str) -> str:
    """``paper (resize 256×256, centre crop 224)`` for the report."""
    resize, crop = eval_sizes(name)
    return f"{name} (resize {resize}×{resize}" + (f", centre crop {crop})" if crop != resize else ")")
