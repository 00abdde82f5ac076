"""Methods that change the network or the loss, not (only) the batch: ADL inserts a layer, ACoL and SPG add heads
and loss terms that need the labels in the forward. They follow the augmentations' contract, so that the trainer,
the registry, plugins and ``--candidate`` take them as they are, through its three hooks:

* :meth:`~NetworkMethod.attach` sees the registered network once, before its weights are loaded: insert layers
  (forward hooks), or add heads as submodules of the network's classifier (so that a fine-tuning loads the
  backbone's tensors and trains the new layers at the classifier's learning rate);
* :meth:`~NetworkMethod.apply` sees each training batch before the forward: it keeps the batch's targets, for a
  forward that needs the labels (``self.targets``), and returns the batch unchanged;
* inside the forward, :meth:`~NetworkMethod.with_loss` adds a loss term to the step's loss: the trainer's loss is
  the cross-entropy of the returned logits, and the term's gradient flows as if it were added to it.

A method that defines its own localization map overrides :meth:`~NetworkMethod.localization_maps` (ACoL: the
maximum of its two classifiers' maps); the default is the CAM of the network's classifier.
"""
from __future__ import annotations

import torch

from harness.augment.base import Augmentation
from harness.localization.cam import classifier_maps


class _WithLoss(torch.autograd.Function):
    """``output`` unchanged forward; backward, ``loss`` receives the gradient 1 (it is added to the total)."""

    @staticmethod
    def forward(ctx, output: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        ctx.loss_shape = loss.shape
        return output.view_as(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, torch.ones(ctx.loss_shape, dtype=grad.dtype, device=grad.device)


def with_loss(output: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
    """``output``, carrying ``loss`` (a scalar) into the step's loss: the step's gradients are those of the
    trainer's loss plus ``loss``."""
    return _WithLoss.apply(output, loss)


class NetworkMethod(Augmentation):
    """Base class of methods that change the network or the loss (see the module's docstring)."""

    targets: torch.Tensor | None = None

    def apply(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.targets = targets  # the batch's (one-hot) labels, for the forward that follows
        return images, targets

    def labels(self) -> torch.Tensor:
        """The current training batch's labels (the largest target of each row)."""
        if self.targets is None:
            raise RuntimeError(f"{self.name}: the network's training forward needs the batch's labels; call the "
                               "method on the batch first (the trainer does)")
        return self.targets.argmax(dim=1)

    def localization_maps(self, model: torch.nn.Module, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Maps ``[B, h, w]`` of ``classes`` for localization (before upsampling and normalisation), from the
        network's last feature maps (``forward_features``): by default the CAM of its classifier."""
        return classifier_maps(model, features, classes)
