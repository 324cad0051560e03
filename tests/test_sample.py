from __future__ import annotations

import re
from collections import Counter

import pytest

from extractor.data.documents import validate
from extractor.data.sample import GBT4754_SECTIONS, generate_documents
from extractor.paths import PRODUCT_SCHEMA
from extractor.rules.fields import field_strings, normalize
from extractor.rules.schema import Schema

SCHEMA_PATH = PRODUCT_SCHEMA


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load(SCHEMA_PATH)


@pytest.fixture(scope="module")
def docs():
    return list(generate_documents(400, seed=7))


def _spec(schema: Schema, name: str):
    return next(f for f in schema.fields if f.name == name)


def test_same_seed_same_documents():
    a = [d.to_dict() for d in generate_documents(40, seed=3)]
    b = [d.to_dict() for d in generate_documents(40, seed=3)]
    c = [d.to_dict() for d in generate_documents(40, seed=4)]
    assert a == b
    assert [d["text"] for d in a] != [d["text"] for d in c]


def test_prefix_of_longer_run_is_identical():
    # Each document depends only on the seed and its position, not on n.
    short = [d.to_dict() for d in generate_documents(5, seed=11)]
    longer = [d.to_dict() for d in generate_documents(20, seed=11)]
    assert longer[:5] == short


def test_doc_ids(docs):
    assert docs[0].doc_id == "sample-000001"
    assert docs[-1].doc_id == "sample-000400"
    assert len({d.doc_id for d in docs}) == len(docs)


def test_offsets_valid_and_entities_clean(docs, schema):
    for doc in docs:
        validate(doc, schema.labels)
        previous_end = 0
        for e in sorted(doc.entities, key=lambda e: (e.start, e.end)):
            surface = doc.text[e.start : e.end]
            assert surface and surface == surface.strip(), (doc.doc_id, e, surface)
            assert e.start >= previous_end, f"{doc.doc_id}: overlapping entities near {e}"
            previous_end = e.end


def test_every_label_is_used(docs):
    counts = Counter(e.label for d in docs for e in d.entities)
    assert set(counts) == {"EDU", "PRO", "IND", "ORG"}
    assert min(counts.values()) > 200


def test_fields_are_rules_applied_to_gold_entities(docs, schema):
    for doc in docs:
        assert set(doc.fields) == {"education", "major", "industry"}
        assert doc.fields == field_strings(doc.text, doc.entities, schema)


def test_mentions_normalise_to_canonical_values(docs, schema):
    edu, ind = _spec(schema, "education"), _spec(schema, "industry")
    for doc in docs:
        for e in doc.entities:
            surface = doc.text[e.start : e.end]
            if e.label == "EDU":
                assert normalize(surface, edu.normalize)[0] in edu.order, surface
            elif e.label == "IND":
                assert normalize(surface, ind.normalize)[0] in GBT4754_SECTIONS, surface
        assert doc.fields["education"] in (None, *edu.order)
        assert doc.fields["industry"] in (None, *GBT4754_SECTIONS)


def test_lengths(docs):
    lengths = [len(d.text) for d in docs]
    long = [n for n in lengths if n > 1000]
    assert 0.01 <= len(long) / len(docs) <= 0.12
    typical = [n for n in lengths if n <= 1000]
    assert all(150 <= n <= 600 for n in typical), sorted(typical)[:3] + sorted(typical)[-3:]


def test_missing_fields_share(docs):
    missing = [d for d in docs if any(v is None for v in d.fields.values())]
    assert 0.07 <= len(missing) / len(docs) <= 0.25
    for name in ("education", "major", "industry"):
        assert any(d.fields[name] is None for d in docs), name
    # A missing field means no mention at all, not an unnormalisable one.
    label_of = {"education": "EDU", "major": "PRO", "industry": "IND"}
    for d in missing:
        for name, value in d.fields.items():
            if value is None:
                assert not any(e.label == label_of[name] for e in d.entities)


def test_fractions_are_parameters():
    plain = list(generate_documents(60, seed=5, long_fraction=0.0, missing_fraction=0.0))
    assert all(len(d.text) <= 600 for d in plain)
    assert all(v is not None for d in plain for v in d.fields.values())
    long = list(generate_documents(10, seed=5, long_fraction=1.0, missing_fraction=1.0))
    assert all(len(d.text) > 1000 for d in long)
    assert all(any(v is None for v in d.fields.values()) for d in long)


def test_several_layouts(docs):
    def share(pattern: str) -> float:
        rx = re.compile(pattern, re.M)
        return sum(bool(rx.search(d.text)) for d in docs) / len(docs)

    assert share(r"\S ?[|｜] ?\S") > 0.1                     # tables
    assert share(r"^(学历|学位|学历学位|专业|学校) ?[:：]") > 0.1   # key: value
    assert share(r"毕业于|就读于|加入") > 0.1                   # prose
    assert share(r"^\s*[•\-·*▪] ") > 0.1                      # bullets


def test_surface_variety(docs):
    surfaces = {label: Counter() for label in ("EDU", "PRO", "IND", "ORG")}
    for d in docs:
        for e in d.entities:
            surfaces[e.label][d.text[e.start : e.end]] += 1
    assert len(surfaces["ORG"]) >= 100
    assert len(surfaces["PRO"]) >= 40
    assert len(surfaces["IND"]) >= 40
    assert len(surfaces["EDU"]) >= 20
    assert len({d.fields["industry"] for d in docs} - {None}) >= 15
    assert len({d.fields["major"] for d in docs} - {None}) >= 30
    # Suffix forms the rules must strip are present next to bare ones.
    assert any(s.endswith("专业") for s in surfaces["PRO"])
    assert any(s.endswith(("行业", "领域")) for s in surfaces["IND"])
    assert {"本科", "硕士"} <= set(surfaces["EDU"])


def test_mixed_punctuation_and_latin(docs):
    text = "\n".join(d.text for d in docs)
    assert "：" in text and ":" in text
    assert "，" in text and "," in text
    assert re.search(r"[A-Za-z]{3,}", text)
    assert re.search(r"\d{4}", text)


def test_explicit_schema_argument(schema):
    a = [d.to_dict() for d in generate_documents(10, seed=2, schema=schema)]
    b = [d.to_dict() for d in generate_documents(10, seed=2)]
    assert a == b
