"""Batch augmentations, one per file, registered by name.

    aug = harness.augment.build("cutmix", num_classes=100, alpha=1.0, prob=0.5, seed=0)
    images, targets = aug(images, labels)      # targets: float [B, K], rows sum to 1

Add a method from your own file with :func:`register` and load it with :func:`load_plugins`
(or ``--plugin my_mix.py`` on the command line); see README.
"""
from harness.augment.base import Augmentation, BetaMixing, mix_targets
from harness.augment.registry import available, build, get, is_known, load_plugins, register

# Built-in methods register themselves on import.
from harness.augment import (  # noqa: E402,F401
    cutmix, cutmix_center_gaussian, cutmix_complete_label, cutmix_fixed_size, cutmix_one_hot, cutmix_scheduled,
    cutout, feature_cutmix, fmix, manifold_mixup, mixup, none, resizemix, saliencymix,
)

__all__ = ["Augmentation", "BetaMixing", "available", "build", "get", "is_known", "load_plugins", "mix_targets", "register"]
