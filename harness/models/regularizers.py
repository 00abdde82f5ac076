"""Architectural regularizers applied to a residual branch: Stochastic Depth, DropBlock and ShakeDrop.

timm's ResNets take ``drop_path_rate`` / ``drop_block_rate`` themselves; the CIFAR models build the
same from :func:`residual_regularizer`, with ShakeDrop (PyramidNet's regularizer) in addition.
"""
from __future__ import annotations

import torch
from timm.layers import DropBlock2d, DropPath
from torch import nn


class _ShakeDropFunction(torch.autograd.Function):
    """Forward: x * (b + alpha - b*alpha); backward: grad * (b + beta - b*beta), per sample."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(keep, beta)
        return x * (keep + alpha - keep * alpha)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        keep, beta = ctx.saved_tensors
        return grad * (keep + beta - keep * beta), None, None, None


class ShakeDrop(nn.Module):
    """ShakeDrop (Yamada et al., 2019) on a residual branch, with keep probability ``keep_prob``.

    Training: b ~ Bernoulli(keep_prob), alpha ~ U[-1, 1] (forward), beta ~ U[0, 1] (backward), per
    sample. Evaluation: the expectation, ``keep_prob * x`` (deterministic).
    """

    def __init__(self, keep_prob: float) -> None:
        super().__init__()
        self.keep_prob = keep_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * self.keep_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        keep = torch.bernoulli(torch.full(shape, self.keep_prob, device=x.device, dtype=x.dtype))
        alpha = torch.empty(shape, device=x.device, dtype=x.dtype).uniform_(-1.0, 1.0)
        beta = torch.rand(shape, device=x.device, dtype=x.dtype)
        return _ShakeDropFunction.apply(x, keep, alpha, beta)


def residual_regularizer(block: int, blocks: int, stage: int, *, drop_path_rate: float = 0.0,
                         drop_block_rate: float = 0.0, drop_block_size: int = 4, shakedrop_rate: float = 0.0) -> nn.Module:
    """The regularizers of block ``block`` (0-based, of ``blocks``) in stage ``stage`` (0-based, of 3).

    Stochastic depth and ShakeDrop grow linearly with depth to their rates at the last block (the
    papers' linear decay rule); DropBlock acts in the last two stages (as the DropBlock paper's groups 3-4).
    """
    depth = (block + 1) / blocks
    layers: list[nn.Module] = []
    if drop_block_rate and stage >= 1:
        layers.append(DropBlock2d(drop_prob=drop_block_rate, block_size=drop_block_size))
    if shakedrop_rate:
        layers.append(ShakeDrop(1.0 - shakedrop_rate * depth))
    if drop_path_rate:
        layers.append(DropPath(drop_path_rate * depth))
    return nn.Sequential(*layers) if layers else nn.Identity()
