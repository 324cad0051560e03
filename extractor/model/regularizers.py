"""Training-only regularisers against overfitting a small corpus; none changes the saved model.

- FGM (Miyato et al. 2017, "Adversarial Training Methods for Semi-Supervised Text Classification"):
  every embedding table is moved by epsilon along its loss gradient, r = eps * g / ||g||, the loss of
  that worst nearby input is backpropagated too, and the tables are put back.
- R-Drop (Liang et al. 2021): each batch runs twice with different dropout masks and the two span
  score maps are pulled together. For a span scored s (probability sigmoid(s)) the symmetric KL
  divergence of two Bernoulli distributions is KL(p1||p2) + KL(p2||p1) = (p1 - p2)(s1 - s2).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn

from extractor.model.globalpointer import span_mask


@contextmanager
def embedding_attack(encoder: nn.Module, epsilon: float) -> Iterator[int]:
    """Within the block, each of ``encoder``'s embedding tables holding a gradient is moved by
    ``epsilon * grad / ||grad||``; on exit the tables are restored exactly. Yields how many moved."""
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        for module in encoder.modules():
            grad = module.weight.grad if isinstance(module, nn.Embedding) else None
            if grad is None:
                continue
            norm = grad.norm()
            if norm > 0 and torch.isfinite(norm):
                saved.append((module.weight, module.weight.detach().clone()))
                module.weight.add_(grad, alpha=epsilon / norm.item())
    try:
        yield len(saved)
    finally:
        with torch.no_grad():
            for weight, original in saved:
                weight.copy_(original)


def symmetric_span_kl(first: torch.Tensor, second: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """R-Drop's divergence between two span score maps (B, a, T, T) of the same windows: the symmetric
    Bernoulli KL summed over the real spans (i <= j, no padding), averaged over windows and types."""
    valid = span_mask(attention_mask).to(first.dtype)  # (B, 1, T, T)
    divergence = (torch.sigmoid(first) - torch.sigmoid(second)) * (first - second) * valid
    return divergence.flatten(2).sum(-1).mean()
