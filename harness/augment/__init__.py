"""Batch augmentations, one per file, registered by name.

    aug = harness.augment.build("cutmix", num_classes=100, alpha=1.0, prob=0.5, seed=0)
    images, targets = aug(images, labels)      # targets: float [B, K], rows sum to 1

Add a method from your own file with :func:`register` and load it with :func:`load_plugins`
(or ``--plugin my_mix.py`` on the command line); see README.
"""
from harness.augment.base import Augmentation, BetaMixing, mix_targets
from harness.augment.registry import available, build, get, load_plugins, register

# Built-in methods register themselves on import.
from harness.augment import cutmix, cutout, mixup, none  # noqa: E402,F401

__all__ = ["Augmentation", "BetaMixing", "available", "build", "get", "load_plugins", "mix_targets", "register"]
