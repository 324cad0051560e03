"""Mention replacement: training documents whose gold entities are, each with some probability, swapped
for another mention of the same label from the training set.

Every epoch then shows the same contexts with other names in them, so the encoder has to find a company
or a title from what surrounds it rather than from having seen that very name (Dai & Adel 2020, "An
Analysis of Simple Data Augmentation for Named Entity Recognition"). Entities that overlap another are
left as they are: a replacement would have to rewrite both.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from extractor.data.documents import Document, Entity


def mention_pool(docs: Sequence[Document]) -> dict[str, list[str]]:
    """The distinct mentions of each label, sorted (a run's replacements depend only on its seed)."""
    pool: dict[str, set[str]] = {}
    for doc in docs:
        for e in doc.entities:
            pool.setdefault(e.label, set()).add(doc.text[e.start : e.end])
    return {label: sorted(mentions) for label, mentions in pool.items()}


def isolated(entities: Sequence[Entity]) -> list[Entity]:
    """The entities that overlap no other, by start."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    return [e for n, e in enumerate(ordered)
            if all(o.end <= e.start or o.start >= e.end for m, o in enumerate(ordered) if m != n)]


def replace_mentions(doc: Document, pool: dict[str, list[str]], rate: float, rng: random.Random) -> Document:
    """A copy of ``doc`` with each isolated entity, with probability ``rate``, replaced by a random
    mention of its label; the text between entities is kept and the offsets follow."""
    keep = isolated(doc.entities)
    if rate <= 0 or not keep:
        return doc
    touched = {(e.start, e.end, e.label) for e in keep}
    others = [e for e in doc.entities if (e.start, e.end, e.label) not in touched]
    pieces, entities, cursor, shift = [], [], 0, 0
    moved: list[tuple[int, int]] = []  # (old position, shift from there on) for the overlapping ones
    for e in keep:
        mention = doc.text[e.start : e.end]
        if rng.random() < rate and pool.get(e.label):
            mention = rng.choice(pool[e.label])
        pieces.append(doc.text[cursor : e.start])
        start = e.start + shift
        entities.append(Entity(start, start + len(mention), e.label, e.score))
        pieces.append(mention)
        shift += len(mention) - (e.end - e.start)
        moved.append((e.end, shift))
        cursor = e.end
    pieces.append(doc.text[cursor:])

    def new_offset(old: int) -> int:  # positions outside every replaced entity move by the shifts before them
        return old + next((s for end, s in reversed(moved) if end <= old), 0)

    entities += [Entity(new_offset(e.start), new_offset(e.end), e.label, e.score) for e in others]
    return Document(doc.doc_id, "".join(pieces), sorted(entities, key=lambda e: (e.start, e.end)), doc.fields)
