"""GlobalPointer: NER as multi-label classification over all spans (i, j), i <= j.

    q_{i,a} = W_{q,a} h_i + b,   k_{j,a} = W_{k,a} h_j + b
    s_a(i, j) = (R_i q_{i,a})^T (R_j k_{j,a}) / sqrt(d)        R = RoPE

Because R_i^T R_j = R_{j-i}, the score sees only the offset j - i. Spans with
j < i and padding are masked; decoding keeps every span with s > 0, so nested
and overlapping entities need nothing special.

Both heads have the interface of every head (``extractor/model/heads.py``):
``forward`` -> scores (B, a, T, T), ``loss`` and ``decode`` on those scores.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn

NEG_INF = -1e12  # masked spans: e^{NEG_INF} is exactly 0 in float32


def rope(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding over dim -2 (positions) of x: (..., T, d), d even.

    Pairs (x_{2m}, x_{2m+1}) are rotated by angle t * base^{-2m/d} at position t.
    """
    T, d = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32, device=x.device) / d)  # (d/2,)
    angle = torch.arange(T, dtype=torch.float32, device=x.device)[:, None] * theta  # (T, d/2)
    angle = torch.stack([angle, angle], dim=-1).reshape(T, d)  # each angle twice: one per pair member
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    x_rot = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape(x.shape)  # (x0,x1) -> (-x1,x0)
    return x * cos + x_rot * sin


def span_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) token mask -> (B, 1, T, T) bool: True where (i, j) is a real span with i <= j."""
    pad = attention_mask.bool()
    valid = pad[:, None, :, None] & pad[:, None, None, :]
    T = attention_mask.shape[1]
    upper = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).triu()
    return valid & upper


def span_bias(attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, T) token mask -> (B, 1, T, T) float: 0 on real spans (i <= j), NEG_INF elsewhere.

    Added to the scores rather than ``masked_fill``-ed: ONNX Runtime's broadcasting ``Where`` was
    a tenth of a BiLSTM's forward pass; an ``Add`` costs a fraction of that, and the sum is the same
    (a score is lost in NEG_INF's rounding, and e^{NEG_INF} is 0 either way).
    """
    return (~span_mask(attention_mask)).to(dtype) * NEG_INF


class SpanHead(nn.Module):
    """What GP and EGP share: the loss and decoding of span scores s: (B, a, T, T)."""

    nested = True  # every span is scored on its own: nested and overlapping spans come free

    def loss(self, scores: torch.Tensor, gold: list[list[tuple[int, int, int]]],
             attention_mask: torch.Tensor, form: str = "dense") -> torch.Tensor:
        """Multi-label cross-entropy against gold (type, i, j) per window; padding is already -inf."""
        n_types, T = scores.shape[1], scores.shape[-1]
        if form == "sparse":
            idx, gold_mask = sparse_span_targets(gold, n_types, T)
            return sparse_multilabel_crossentropy(scores, idx.to(scores.device), gold_mask.to(scores.device))
        return multilabel_crossentropy(scores, span_targets(gold, n_types, T).to(scores.device))

    def decode(self, scores: torch.Tensor, attention_mask: torch.Tensor, threshold: float = 0.0,
               max_span_len: Optional[int] = None) -> list[list[tuple[int, int, int, float]]]:
        return decode(scores, threshold, max_span_len)

    def trainable_spans(self, gold: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        return list(gold)  # every span is its own label: nested and overlapping ones included


class GlobalPointer(SpanHead):
    """One q/k projection per entity type."""

    def __init__(self, hidden_size: int, n_types: int, head_size: int = 64, use_rope: bool = True):
        super().__init__()
        self.n_types, self.head_size, self.use_rope = n_types, head_size, use_rope
        self.qk = nn.Linear(hidden_size, n_types * head_size * 2)

    def forward(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = h.shape
        qk = self.qk(h).view(B, T, self.n_types, 2, self.head_size).permute(0, 2, 3, 1, 4)  # (B,a,2,T,d)
        q, k = qk[:, :, 0], qk[:, :, 1]
        if self.use_rope:
            q, k = rope(q), rope(k)
        # s_a(i,j) = q_i . k_j / sqrt(d), (B, a, T, T); scaling q (T x d) is cheaper than scaling s (T x T)
        s = (q / math.sqrt(self.head_size)) @ k.transpose(-1, -2)
        return s + span_bias(attention_mask, s.dtype)


class EfficientGlobalPointer(SpanHead):
    """Shared q/k for all types plus per-type start and end biases:

    s_a(i, j) = (R_i q_i)^T (R_j k_j) / sqrt(d) + w_{a,start}^T [q_i;k_i] + w_{a,end}^T [q_j;k_j]
    """

    def __init__(self, hidden_size: int, n_types: int, head_size: int = 64, use_rope: bool = True):
        super().__init__()
        self.n_types, self.head_size, self.use_rope = n_types, head_size, use_rope
        self.qk = nn.Linear(hidden_size, head_size * 2)
        self.bias = nn.Linear(head_size * 2, n_types * 2)

    def forward(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        qk = self.qk(h)  # (B, T, 2d)
        q, k = qk[..., : self.head_size], qk[..., self.head_size :]
        if self.use_rope:
            q, k = rope(q), rope(k)
        shared = (q / math.sqrt(self.head_size)) @ k.transpose(-1, -2)  # q_i . k_j / sqrt(d), (B, T, T)
        start_bias, end_bias = (self.bias(qk) / 2).transpose(1, 2).chunk(2, dim=1)  # (B, a, T) each
        s = shared[:, None] + start_bias[..., :, None] + end_bias[..., None, :]
        return s + span_bias(attention_mask, s.dtype)


HEADS = {"gp": GlobalPointer, "egp": EfficientGlobalPointer}


# Exponents are floored at -80: e^-80 ~ 2e-35 vanishes beside the appended 1, while below -88
# the CPU's vectorised exp takes a slow underflow path (3-8x slower on the masked spans).
EXP_FLOOR = -80.0


def log_one_plus_sum_exp(x: torch.Tensor) -> torch.Tensor:
    """log(1 + sum e^x) over the last dim: logsumexp with an appended 0. Entries at NEG_INF count as 0."""
    m = x.detach().amax(-1, keepdim=True).clamp(min=0)
    return (m + torch.log(torch.exp(-m) + torch.exp((x - m).clamp(min=EXP_FLOOR)).sum(-1, keepdim=True))).squeeze(-1)


def multilabel_crossentropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dense form. scores, targets: (B, a, T, T); targets in {0, 1}. Mean over (B, a).

    loss = log(1 + sum_P e^{-s}) + log(1 + sum_N e^{s})      (masked spans hold NEG_INF: in neither)
    """
    s = scores.flatten(2)
    gold = targets.flatten(2) > 0
    pos = log_one_plus_sum_exp((-s).masked_fill(~gold, NEG_INF))
    neg = log_one_plus_sum_exp(s.masked_fill(gold, NEG_INF))
    return (pos + neg).mean()


def sparse_multilabel_crossentropy(
    scores: torch.Tensor, gold: torch.Tensor, gold_mask: torch.Tensor, eps: float = 1e-7
) -> torch.Tensor:
    """Sparse form for long sequences: gold spans given as flat indices i*T + j.

    scores: (B, a, T, T); gold, gold_mask: (B, a, K), padded where gold_mask is False.
    log(1 + sum_N e^s) = log(1 + sum_all e^s - sum_P e^s) = all + log(1 - e^{lse(P) - all}).
    """
    s = scores.flatten(2)
    s_gold = s.gather(-1, gold.clamp(min=0))
    pos = log_one_plus_sum_exp((-s_gold).masked_fill(~gold_mask, NEG_INF))
    all_ = log_one_plus_sum_exp(s)
    gold_lse = torch.logsumexp(s_gold.masked_fill(~gold_mask, NEG_INF), -1)
    neg = all_ + torch.log(torch.clamp(1 - torch.exp(gold_lse - all_), eps, 1))
    return (pos + neg).mean()


def decode(
    scores: torch.Tensor, threshold: float = 0.0, max_span_len: Optional[int] = None
) -> list[list[tuple[int, int, int, float]]]:
    """Every span with s > threshold, per batch item: (type, i, j, score) with j inclusive."""
    hits = scores > threshold
    if max_span_len is not None:
        T = scores.shape[-1]
        i = torch.arange(T, device=scores.device)
        hits = hits & ((i[None, :] - i[:, None]) < max_span_len)
    out: list[list[tuple[int, int, int, float]]] = [[] for _ in range(scores.shape[0])]
    values = scores.detach()[hits].tolist()  # row-major, the same order as nonzero()
    for (b, a, i, j), v in zip(hits.nonzero().tolist(), values):
        out[b].append((a, i, j, v))
    return out


def span_targets(
    spans: list[list[tuple[int, int, int]]], n_types: int, T: int
) -> torch.Tensor:
    """Gold (type, i, j) per batch item -> dense {0,1} targets (B, a, T, T)."""
    y = torch.zeros(len(spans), n_types, T, T)
    for b, item in enumerate(spans):
        for a, i, j in item:
            y[b, a, i, j] = 1.0
    return y


def sparse_span_targets(
    spans: list[list[tuple[int, int, int]]], n_types: int, T: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gold (type, i, j) per batch item -> flat indices and mask (B, a, K)."""
    per_type = [[[i * T + j for a2, i, j in item if a2 == a] for a in range(n_types)] for item in spans]
    K = max(1, max((len(x) for item in per_type for x in item), default=1))
    idx = torch.zeros(len(spans), n_types, K, dtype=torch.long)
    mask = torch.zeros(len(spans), n_types, K, dtype=torch.bool)
    for b, item in enumerate(per_type):
        for a, flat in enumerate(item):
            idx[b, a, : len(flat)] = torch.tensor(flat, dtype=torch.long)
            mask[b, a, : len(flat)] = True
    return idx, mask

