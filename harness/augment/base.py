"""The contract every augmentation follows (the one ``torchvision.transforms.v2.CutMix`` uses).

``images, targets = aug(images, labels)``: ``images`` float ``[B, C, H, W]`` on any device, ``labels``
int64 ``[B]``; ``targets`` float ``[B, K]`` whose rows sum to 1. Label smoothing is a property of the
targets and so available to every method.
"""
from __future__ import annotations

from typing import Any

import torch


class Augmentation:
    """Base class: validates the batch, builds (smoothed) one-hot targets and owns the random generator.

    Subclasses implement :meth:`apply`. All randomness comes from ``self.generator`` (a CPU
    ``torch.Generator``), so a method is reproducible from ``seed`` and its state can be checkpointed.
    With ``inplace=True`` (the default, as in timm) the input batch may be overwritten to avoid copies;
    always use the returned images.
    """

    name = "base"

    def __init__(
        self,
        num_classes: int,
        *,
        prob: float = 1.0,
        label_smoothing: float = 0.0,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        inplace: bool = True,
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_classes = num_classes
        self.prob = prob
        self.label_smoothing = label_smoothing
        self.inplace = inplace
        if generator is None:
            generator = torch.Generator()
            # Without a seed, follow the global seed (torch.manual_seed) so seeded runs stay reproducible.
            generator.manual_seed(seed if seed is not None else int(torch.randint(2**62, (1,)).item()))
        self.generator = generator

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or not images.is_floating_point():
            raise ValueError(f"images must be a float [B, C, H, W] tensor, got {tuple(images.shape)} {images.dtype}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0] or labels.dtype != torch.int64:
            raise ValueError(f"labels must be int64 [B] with B={images.shape[0]}, got {tuple(labels.shape)} {labels.dtype}")
        labels = labels.to(images.device, non_blocking=True)
        if not self.inplace:
            images = images.clone()
        targets = self.one_hot(labels, dtype=images.dtype if images.dtype == torch.float64 else torch.float32)
        return self.apply(images, targets)

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a validated batch whose (smoothed) one-hot targets are given."""
        raise NotImplementedError

    # --- hooks the trainer calls; methods that need them override ------------------------------
    def attach(self, model: torch.nn.Module) -> None:
        """Called once with the model being trained (feature-level methods hook its stages)."""

    def set_progress(self, fraction: float) -> None:
        """Called before every training step with the fraction of training done, in [0, 1)."""

    def one_hot(self, labels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Targets ``[B, K]``: ``1 - eps + eps/K`` on the label, ``eps/K`` elsewhere (eps = label smoothing)."""
        off = self.label_smoothing / self.num_classes
        targets = torch.full((labels.shape[0], self.num_classes), off, dtype=dtype, device=labels.device)
        return targets.scatter_(1, labels.unsqueeze(1), 1.0 - self.label_smoothing + off)

    # --- shared random draws -------------------------------------------------------------------
    def draw_applied(self, n: int) -> torch.Tensor:
        """``n`` booleans, each True with probability ``prob`` (on the CPU)."""
        return torch.rand(n, generator=self.generator) < self.prob

    def draw_permutation(self, n: int, device: torch.device) -> torch.Tensor:
        """The mixing partners: a random permutation of the batch, moved to ``device``."""
        return torch.randperm(n, generator=self.generator).to(device, non_blocking=True)

    # --- checkpointing --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if k != "generator"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


class BetaMixing(Augmentation):
    """A method that mixes pairs with a ratio lambda ~ Beta(alpha, alpha), once per ``batch`` (the paper's
    choice) or once per ``sample``."""

    def __init__(self, num_classes: int, *, alpha: float = 1.0, mode: str = "batch", **common) -> None:
        super().__init__(num_classes, **common)
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if mode not in ("batch", "sample"):
            raise ValueError(f"mode must be 'batch' or 'sample', got {mode!r}")
        self.alpha = alpha
        self.mode = mode


def mix_targets(targets: torch.Tensor, perm: torch.Tensor, kept: torch.Tensor | float) -> torch.Tensor:
    """``kept * targets + (1 - kept) * targets[perm]``; ``kept`` is a scalar or one weight per sample."""
    if isinstance(kept, torch.Tensor):
        kept = kept.to(targets.device, targets.dtype, non_blocking=True).unsqueeze(1)
    return targets.mul(kept).add_(targets[perm] * (1.0 - kept))
