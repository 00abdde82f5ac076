"""Batch augmentations, one per file, registered by name.

    aug = harness.augment.build("cutmix", num_classes=100, alpha=1.0, prob=0.5, seed=0)
    images, targets = aug(images, labels)      # targets: float [B, K], rows sum to 1

Add a method from your own file with :func:`register` and load it with :func:`load_plugins`
(or ``--plugin my_mix.py`` on the command line); see docs/adding_a_method.md. Built-in methods are imported when first
built (see :mod:`harness.augment.registry`), and so are the base classes below: planning needs no torch.
"""
from harness.augment.registry import available, build, get, is_known, load_plugins, register
from harness.lazy import lazy_exports

__all__ = ["Augmentation", "BetaMixing", "available", "build", "get", "is_known", "load_plugins", "mix_targets", "register"]
__getattr__ = lazy_exports(__name__, {"Augmentation": "base", "BetaMixing": "base", "mix_targets": "base"})
