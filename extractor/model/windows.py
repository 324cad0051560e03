"""Documents -> encoder windows, and window spans -> document spans.

A text longer than the encoder window is never truncated: its tokens are cut
into overlapping windows of ``max_tokens`` (sentence markers included) that
start every ``stride`` tokens. A span touching a window's inner edge may be cut
off there, so it is only trusted from a window where it lies inside; spans seen
in several windows are kept once, with their best score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch

from extractor.data.documents import Document, Entity
from extractor.model.tokenization import Tokenizer


@dataclass
class EncodedDoc:
    ids: list[int]
    offsets: list[tuple[int, int]]
    gold: list[tuple[int, int, int]] = field(default_factory=list)  # (type, first token, last token)
    unaligned: int = 0  # gold entities that cover no token at all


@dataclass
class Window:
    doc_index: int
    start: int  # first document token in the window
    end: int  # one past the last document token
    input_ids: list[int]
    prefix: int  # 1 when a [CLS] marker precedes the tokens
    gold: list[tuple[int, int, int]] = field(default_factory=list)  # (type, i, j) in window positions


def window_bounds(n_tokens: int, max_tokens: int, stride: int) -> list[tuple[int, int]]:
    if max_tokens < 1 or not 0 < stride <= max_tokens:
        raise ValueError(f"need 0 < stride <= max_tokens, got stride={stride}, max_tokens={max_tokens}")
    bounds, start = [], 0
    while start < n_tokens:
        end = min(start + max_tokens, n_tokens)
        bounds.append((start, end))
        if end == n_tokens:
            break
        start += stride
    return bounds


def encode_document(doc: Document, tokenizer: Tokenizer, label_index: Optional[dict[str, int]] = None) -> EncodedDoc:
    ids, offsets = tokenizer.encode(doc.text)
    enc = EncodedDoc(ids, offsets)
    if label_index is None:
        return enc
    for e in doc.entities:
        covered = [t for t, (s, t_end) in enumerate(offsets) if s < e.end and t_end > e.start]
        if not covered:
            enc.unaligned += 1
            continue
        enc.gold.append((label_index[e.label], covered[0], covered[-1]))
    return enc


def make_windows(
    doc_index: int, enc: EncodedDoc, tokenizer: Tokenizer, max_tokens: int, stride: int
) -> list[Window]:
    markers = (tokenizer.cls_id is not None) + (tokenizer.sep_id is not None)
    content = max_tokens - markers
    if not 0 < stride < content:
        # Windows must overlap, or a span crossing a boundary is whole in no window.
        raise ValueError(f"stride must be in (0, {content}) for windows of {max_tokens} tokens, got {stride}")
    prefix = 1 if tokenizer.cls_id is not None else 0
    windows = []
    for start, end in window_bounds(len(enc.ids), content, stride):
        ids = enc.ids[start:end]
        if tokenizer.cls_id is not None:
            ids = [tokenizer.cls_id] + ids
        if tokenizer.sep_id is not None:
            ids = ids + [tokenizer.sep_id]
        gold = [(a, i - start + prefix, j - start + prefix) for a, i, j in enc.gold if start <= i and j < end]
        windows.append(Window(doc_index, start, end, ids, prefix, gold))
    return windows


def collate(windows: Sequence[Window], pad_id: int, pad_to: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its longest window (dynamic padding), or to ``pad_to`` tokens (static shapes)."""
    T = max(max(len(w.input_ids) for w in windows), pad_to or 0)
    ids = torch.full((len(windows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), T), dtype=torch.long)
    for b, w in enumerate(windows):
        ids[b, : len(w.input_ids)] = torch.tensor(w.input_ids, dtype=torch.long)
        mask[b, : len(w.input_ids)] = 1
    return ids, mask


def window_to_doc_spans(
    window: Window, spans: list[tuple[int, int, int, float]], n_doc_tokens: int
) -> list[tuple[int, int, int, float]]:
    """(type, i, j, score) in window positions -> document tokens, dropping spans on an inner edge."""
    out = []
    n = window.end - window.start
    for a, i, j, score in spans:
        ti, tj = i - window.prefix, j - window.prefix
        if ti < 0 or tj >= n:  # a sentence marker, not text
            continue
        ti, tj = ti + window.start, tj + window.start
        if (ti == window.start and window.start > 0) or (tj == window.end - 1 and window.end < n_doc_tokens):
            continue
        out.append((a, ti, tj, score))
    return out


def to_entities(
    spans: list[tuple[int, int, int, float]], offsets: list[tuple[int, int]], labels: Sequence[str]
) -> list[Entity]:
    """Merge document-token spans from all windows into character-offset entities, once each."""
    best: dict[tuple[int, int, int], float] = {}
    for a, ti, tj, score in spans:
        key = (a, offsets[ti][0], offsets[tj][1])
        if key not in best or score > best[key]:
            best[key] = score
    return [
        Entity(start, end, labels[a], score)
        for (a, start, end), score in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))
    ]
