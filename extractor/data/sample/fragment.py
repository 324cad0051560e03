"""Text with its gold spans: pieces are appended with their labels, and offsets are assigned only
when the sections are assembled, so they are exact by construction (nothing is searched for)."""
from __future__ import annotations

import random
from typing import Optional

from extractor.data.documents import Entity


class Fragment:
    """A run of text pieces, some labelled; offsets are assigned only on assembly."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: list[tuple[str, Optional[str]]] = []

    def add(self, text: str, label: Optional[str] = None) -> "Fragment":
        if text:
            if label is not None and text != text.strip():
                raise AssertionError(f"entity text {text!r} has whitespace at its edges")
            self.pieces.append((text, label))
        return self

    def extend(self, other: "Fragment") -> "Fragment":
        self.pieces.extend(other.pieces)
        return self

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.pieces)


def assemble(frags: list[Fragment], rng: random.Random) -> tuple[str, list[Entity]]:
    parts: list[str] = []
    entities: list[Entity] = []
    pos = 0
    for i, frag in enumerate(frags):
        if i:
            sep = "\n\n" if rng.random() < 0.3 else "\n"
            parts.append(sep)
            pos += len(sep)
        for text, label in frag.pieces:
            if label is not None:
                entities.append(Entity(pos, pos + len(text), label))
            parts.append(text)
            pos += len(text)
    return "".join(parts), entities


def total_length(frags: list[Fragment]) -> int:
    # Separators count one character each here; "\n\n" may add a few more, which the bounds allow for.
    return sum(len(f) for f in frags) + max(len(frags) - 1, 0)
