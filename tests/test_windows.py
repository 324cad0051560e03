"""Long documents: overlapping windows, spans mapped back to document offsets, merged once."""
import random

import pytest

from extractor.data.documents import Document, Entity
from extractor.model.tokenization import CharTokenizer
from extractor.model.windows import encode_document, make_windows, to_entities, window_bounds, window_to_doc_spans

LABELS = ["EDU", "ORG"]


def long_document(n_chars=5200, seed=0):
    """Filler text with entities placed every so often, some straddling window boundaries."""
    rng = random.Random(seed)
    text, entities = [], []
    pos = 0
    while pos < n_chars:
        filler = "".join(rng.choice("的一是在有人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也") for _ in range(rng.randint(3, 40)))
        text.append(filler)
        pos += len(filler)
        word = rng.choice(["本科学历", "清华大学", "硕士研究生", "北京科技有限公司"])
        label = "ORG" if word.endswith(("大学", "公司")) else "EDU"
        entities.append(Entity(pos, pos + len(word), label))
        text.append(word)
        pos += len(word)
    return Document("long", "".join(text), entities)


def test_window_bounds_cover_every_token_with_overlap():
    bounds = window_bounds(1000, 256, 192)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1000
    for (s1, e1), (s2, e2) in zip(bounds, bounds[1:]):
        assert s2 == s1 + 192 and s2 < e1  # consecutive windows overlap
    assert window_bounds(0, 256, 192) == []
    assert window_bounds(10, 256, 192) == [(0, 10)]
    with pytest.raises(ValueError):
        window_bounds(10, 8, 9)


def test_windows_must_overlap():
    tok = CharTokenizer.build(["abc"])
    enc = encode_document(Document("d", "abcabc"), tok)
    with pytest.raises(ValueError, match="stride"):
        make_windows(0, enc, tok, max_tokens=4, stride=4)


def test_gold_spans_round_trip_through_windows_on_a_5000_char_document():
    doc = long_document()
    assert len(doc.text) > 5000
    tok = CharTokenizer.build([doc.text])
    enc = encode_document(doc, tok, {lab: i for i, lab in enumerate(LABELS)})
    windows = make_windows(0, enc, tok, max_tokens=128, stride=96)
    assert len(windows) > 40
    # Straddlers exist: some gold entity is cut by some window's edge.
    cut = [e for e in enc.gold for w in windows if w.start < e[1] < w.end <= e[2] or w.start <= e[2] < w.end and e[1] < w.start]
    assert cut
    # A perfect "model": each window predicts its whole gold spans, plus the cut-off parts at its edges.
    spans = []
    for w in windows:
        found = [(a, i, j, 1.0) for a, i, j in w.gold]
        for a, i, j in enc.gold:
            if i < w.start <= j < w.end:  # cut at the left edge: the visible tail
                found.append((a, w.prefix, j - w.start + w.prefix, 5.0))
            if w.start <= i < w.end <= j:  # cut at the right edge: the visible head
                found.append((a, i - w.start + w.prefix, w.end - 1 - w.start + w.prefix, 5.0))
        spans.extend(window_to_doc_spans(w, found, len(enc.ids)))
    entities = to_entities(spans, enc.offsets, LABELS)
    assert [(e.start, e.end, e.label) for e in entities] == sorted(
        ((e.start, e.end, e.label) for e in doc.entities), key=lambda x: (x[0], x[1])
    )


def test_duplicate_spans_from_overlapping_windows_keep_the_best_score():
    offsets = [(i, i + 1) for i in range(10)]
    merged = to_entities([(0, 2, 4, 0.5), (0, 2, 4, 2.0), (1, 2, 4, 1.0)], offsets, LABELS)
    assert [(e.start, e.end, e.label, e.score) for e in merged] == [(2, 5, "EDU", 2.0), (2, 5, "ORG", 1.0)]


def test_markers_are_added_and_never_become_spans():
    class WithMarkers(CharTokenizer):
        pass

    tok = WithMarkers.build(["abcdef"])
    tok.cls_id, tok.sep_id = 2, 3
    enc = encode_document(Document("d", "abcdef", [Entity(1, 3, "EDU")]), tok, {"EDU": 0, "ORG": 1})
    (w,) = make_windows(0, enc, tok, max_tokens=16, stride=8)
    assert w.input_ids[0] == 2 and w.input_ids[-1] == 3 and w.prefix == 1
    assert w.gold == [(0, 2, 3)]
    spans = window_to_doc_spans(w, [(0, 0, 0, 1.0), (0, 2, 3, 1.0), (0, 7, 7, 1.0)], len(enc.ids))
    assert spans == [(0, 1, 2, 1.0)]


def test_flat_schemas_resolve_overlaps_by_score():
    from extractor.model.predict import non_overlapping

    spans = [Entity(0, 4, "ORG", 3.0), Entity(2, 6, "ORG", 5.0), Entity(6, 8, "EDU", 0.5), Entity(0, 2, "EDU", 1.0)]
    assert non_overlapping(spans) == [Entity(0, 2, "EDU", 1.0), Entity(2, 6, "ORG", 5.0), Entity(6, 8, "EDU", 0.5)]
