"""timm's classifier interface for this project's models: global pooling, optional dropout, a linear layer."""
from __future__ import annotations

import torch
from timm.layers import create_classifier
from torch import nn


class PooledClassifier(nn.Module):
    """Base of models whose subclass defines ``forward_features``; provides timm's head methods."""

    drop_rate = 0.0

    def init_head(self, num_features: int, num_classes: int, global_pool: str = "avg") -> None:
        self.num_features = self.head_hidden_size = num_features
        self.reset_classifier(num_classes, global_pool)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.global_pool, self.fc = create_classifier(self.num_features, num_classes, pool_type=global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
