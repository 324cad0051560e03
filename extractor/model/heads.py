"""Heads: encoder vectors h (B, T, H) in, entity spans out. Every head has one interface,
so training, prediction and evaluation never ask which head they run:

    forward(h, attention_mask) -> its raw output: span scores (B, a, T, T) for gp/egp,
                                  tag emissions (B, T, n_tags) for crf
    loss(output, gold, attention_mask, form="dense"|"sparse") -> scalar
                                  gold: (type, i, j) per window, window positions, j inclusive
    decode(output, attention_mask, threshold, max_span_len) -> [[(type, i, j, score), ...] per window]
    trainable_spans(gold) -> the gold spans the head can learn (a CRF: no overlaps)
    nested                -> can it predict nested and overlapping spans?

``decode`` needs only the raw output, the mask and the head's own parameters, so
the forward pass may run elsewhere (ONNX Runtime) and be decoded here.

The config.json ``head`` section names the head and its settings:
``{"type": "gp", "head_size": 64, "rope": true}``, ``{"type": "crf", "tags": "bioes"}``.
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence

import torch
import torch.nn as nn

from extractor.model.crf import CRFHead
from extractor.model.globalpointer import HEADS as SPAN_HEADS
from extractor.model.options import HEAD_TYPES, TAG_SCHEMES  # defined torch-free for the command line


class Head(Protocol):
    nested: bool

    def __call__(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor: ...

    def loss(self, output: torch.Tensor, gold: Sequence[Sequence[tuple[int, int, int]]],
             attention_mask: torch.Tensor, form: str = "dense") -> torch.Tensor: ...

    def decode(self, output: torch.Tensor, attention_mask: torch.Tensor, threshold: float = 0.0,
               max_span_len: Optional[int] = None) -> list[list[tuple[int, int, int, float]]]: ...

    def trainable_spans(self, gold: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]: ...


def head_spec(head: str, head_size: int = 64, rope: bool = True, tags: str = "bioes") -> dict:
    """The config.json section of a head: only the settings that head has."""
    if head in SPAN_HEADS:
        return {"type": head, "head_size": head_size, "rope": rope}
    if head == "crf":
        if tags not in TAG_SCHEMES:
            raise ValueError(f"unknown tag scheme {tags!r}; expected one of {list(TAG_SCHEMES)}")
        return {"type": "crf", "tags": tags}
    raise ValueError(f"unknown head {head!r}; expected one of {list(HEAD_TYPES)}")


def build_head(spec: dict, hidden_size: int, n_types: int) -> nn.Module:
    kind = spec.get("type")
    if kind in SPAN_HEADS:
        return SPAN_HEADS[kind](hidden_size, n_types, spec.get("head_size", 64), spec.get("rope", True))
    if kind == "crf":
        return CRFHead(hidden_size, n_types, spec.get("tags", "bioes"))
    raise ValueError(f"unknown head {kind!r}; expected one of {list(HEAD_TYPES)}")
