"""The record checks are total: whatever a source hands over, ``check_record`` returns a Document or a
Quarantined with a reason, and every value it lets through fits the database's columns."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractor.data.documents import Document
from extractor.nightly.config import PipelineError, parse_pipeline
from extractor.nightly.records import Quarantined, check_record
from extractor.nightly.sources import SourceRecord

LABELS = ("EDU", "ORG", "PRO")


def check(doc_id="cv-1", text="本科 计算机", gold=None, updated_at=None, labels=LABELS):
    return check_record(SourceRecord(0, doc_id, text, updated_at, gold), 1000, gold is not None, labels)


def quarantined(result, reason):
    assert isinstance(result, Quarantined), result
    assert result.reason == reason and result.detail, result
    return result


@pytest.mark.parametrize("gold", [
    '[{"start": 1e999, "end": 2, "label": "EDU"}]',  # OverflowError from int(inf)
    '[{"start": NaN, "end": 2, "label": "EDU"}]',
    "[" * 100_000 + "]" * 100_000,  # RecursionError out of json.loads
    '[{"start": 0, "end": 2, "label": null}]',
    '[{"start": 0, "end": 2}]',
    '[{"start": 0, "end": 2, "label": "NOPE"}]',  # a label the model does not have
    '[{"start": 0.5, "end": 2, "label": "EDU"}]',
    '[{"start": true, "end": 2, "label": "EDU"}]',
    '{"start": 0}', "[1, 2]", "[[0, 2]]", "not json",
])
def test_unusable_gold_is_quarantined(gold):
    quarantined(check(gold=gold), "bad_gold")


def test_good_gold_is_accepted():
    doc = check(gold=json.dumps([{"start": 0, "end": 2, "label": "EDU"}]))
    assert isinstance(doc, Document) and doc.entities[0].label == "EDU"


@pytest.mark.parametrize("doc_id", ["x" * 256, "cv\x00-1", "cv-\ud800"])
def test_ids_that_do_not_fit_the_database_are_quarantined(doc_id):
    q = quarantined(check(doc_id=doc_id), "bad_id")
    assert "\x00" not in q.doc_id and len(q.doc_id) <= 255
    q.doc_id.encode("utf-8")


def test_undecodable_bytes_in_id_or_text_are_quarantined():
    q = quarantined(check(doc_id=b"\xc3(\xe6\x9c\xac\xe7\xa7\x91"), "undecodable")
    assert q.doc_id is None and "doc_id" in q.detail
    q = quarantined(check(text=b"\xc3(\xe6\x9c\xac\xe7\xa7\x91"), "undecodable")
    assert q.doc_id == "cv-1" and "text" in q.detail
    assert isinstance(check(doc_id="cv-1".encode(), text="本科".encode()), Document)


def test_nul_in_text_and_long_updated_at_are_quarantined_with_storable_rows():
    q = quarantined(check(text="本科\x00学历"), "nul_character")
    assert "\x00" not in q.preview
    quarantined(check(updated_at="2026-11-24" * 7), "bad_updated_at")
    quarantined(check(updated_at="2026\x00"), "bad_updated_at")
    assert isinstance(check(updated_at="2026-11-24T01:02:03+00:00"), Document)


def test_a_pipeline_name_longer_than_its_column_is_a_config_error():
    raw = {"name": "n" * 201, "source": {"type": "parquet", "path": "x.parquet"}, "model": "m",
           "database": "sqlite://"}
    with pytest.raises(PipelineError, match="name must be at most 200 characters"):
        parse_pipeline(raw, "p.yaml")
    assert parse_pipeline(dict(raw, name="n" * 200), "p.yaml").name == "n" * 200


# ---------------------------------------------------------------- fuzzing

ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=40)  # NULs and lone surrogates included
HUGE_NUMBERS = st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "9" * 5000, "1.5", "-3", "true"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3), max_leaves=10)


@st.composite
def gold_json(draw) -> str:
    kind = draw(st.integers(0, 4))
    if kind == 0:  # deep nesting
        depth = draw(st.integers(1, 50_000))
        return "[" * depth + "]" * depth
    if kind == 1:  # entity-shaped, with odd offsets and labels
        entity = '{{"start": {}, "end": {}, "label": {}}}'.format(
            draw(HUGE_NUMBERS | st.integers().map(str)), draw(HUGE_NUMBERS | st.integers(0, 20).map(str)),
            json.dumps(draw(st.none() | st.sampled_from(LABELS) | ANY_TEXT)))
        return f"[{entity}]"
    if kind == 2:
        return json.dumps(draw(JSON_VALUES))
    return draw(ANY_TEXT)


RECORDS = st.builds(
    SourceRecord, position=st.integers(0, 10**6),
    doc_id=st.none() | ANY_TEXT | st.integers() | st.binary(max_size=12) | st.text(min_size=250, max_size=300)
    | st.floats(),
    text=st.none() | ANY_TEXT | st.binary(max_size=20) | st.integers() | st.lists(st.integers(), max_size=2),
    updated_at=st.none() | ANY_TEXT | st.text(min_size=60, max_size=80) | st.integers(),
    gold_entities=st.none() | gold_json() | st.lists(st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=3), max_size=2),
    gold_fields=st.none() | gold_json())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=RECORDS, gold_configured=st.booleans())
def test_record_checks_never_raise_and_say_why(rec, gold_configured):
    result = check_record(rec, 30, gold_configured, LABELS)
    if isinstance(result, Quarantined):
        assert result.reason and result.detail
        for value in (result.doc_id, result.detail, result.preview):
            assert value is None or "\x00" not in value
            value is None or value.encode("utf-8")  # raises on a lone surrogate
        assert result.doc_id is None or len(result.doc_id) <= 255
        return
    assert isinstance(result, Document)
    assert isinstance(result.doc_id, str) and 0 < len(result.doc_id) <= 255 and "\x00" not in result.doc_id
    assert isinstance(result.text, str) and "\x00" not in result.text
    result.text.encode("utf-8")
    assert rec.updated_at is None or len(str(rec.updated_at)) <= 64
    assert all(e.label in LABELS for e in result.entities)
