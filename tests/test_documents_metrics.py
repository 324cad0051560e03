"""Document I/O and validation; span, field and document-level metrics."""
import json

import pytest

from extractor.data.documents import Document, DocumentError, Entity, read_documents, write_documents
from extractor.model.metrics import Scorer
from extractor.rules.fields import field_strings


def test_jsonl_and_parquet_round_trip(tmp_path, sample_docs):
    for name in ("docs.jsonl", "docs.parquet"):
        path = tmp_path / name
        assert write_documents(sample_docs, path) == len(sample_docs)
        again = list(read_documents(path, ["EDU", "PRO", "IND", "ORG"]))
        assert [(d.doc_id, d.text, d.entities, d.fields) for d in again] == [
            (d.doc_id, d.text, d.entities, d.fields) for d in sample_docs
        ]


@pytest.mark.parametrize(
    "entity, message",
    [
        ({"start": 3, "end": 2, "label": "EDU"}, "offsets"),
        ({"start": 0, "end": 99, "label": "EDU"}, "offsets"),
        ({"start": -1, "end": 2, "label": "EDU"}, "offsets"),
        ({"start": 0, "end": 2, "label": "SKILL"}, "unknown label"),
    ],
)
def test_bad_entities_are_clear_errors_naming_doc_and_entity(tmp_path, entity, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"doc_id": "cv-42", "text": "本科学历", "entities": [entity]}) + "\n", encoding="utf-8")
    with pytest.raises(DocumentError, match=message) as info:
        list(read_documents(path, ["EDU"]))
    assert "cv-42" in str(info.value) and entity["label"] in str(info.value)


def test_bad_json_and_missing_keys_are_clear_errors(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"doc_id": "a", "text": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(DocumentError, match=r"bad.jsonl:2"):
        list(read_documents(path))
    path.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(DocumentError, match="doc_id"):
        list(read_documents(path))


def test_span_metrics_are_strict(resume_schema):
    doc = Document("d", "本科学历，计算机专业", [Entity(0, 4, "EDU"), Entity(5, 10, "PRO")])
    scorer = Scorer(resume_schema)
    scorer.add(doc, [Entity(0, 2, "EDU"), Entity(5, 10, "PRO"), Entity(5, 8, "ORG")])
    m = scorer.result()
    assert m["labels"]["PRO"]["f1"] == 1.0
    assert m["labels"]["EDU"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["micro"] == {"precision": pytest.approx(1 / 3, abs=1e-6), "recall": 0.5, "f1": 0.4}
    # Macro averages labels with gold or predictions (EDU, PRO, ORG), not IND.
    assert m["macro"]["f1"] == pytest.approx((0 + 1 + 0) / 3, abs=1e-6)


def test_field_metrics_and_document_exact_match(resume_schema):
    a = Document("a", "本科学历，后获硕士学位", [Entity(0, 4, "EDU"), Entity(7, 11, "EDU")])
    b = Document("b", "大专，无", [Entity(0, 2, "EDU")])
    c = Document("c", "没有学历信息", [], fields={"education": None, "major": None, "industry": None})
    assert field_strings(a.text, a.entities, resume_schema)["education"] == "硕士"  # highest wins
    scorer = Scorer(resume_schema)
    scorer.add(a, [Entity(7, 11, "EDU")])  # only the master's degree found: field still right
    scorer.add(b, [])  # missed
    scorer.add(c, [])  # empty gold predicted empty: right
    m = scorer.result()
    edu = m["fields"]["education"]
    assert (edu["precision"], edu["recall"], edu["support"]) == (1.0, 0.5, 2)
    assert edu["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["doc_exact_match"] == pytest.approx(2 / 3, abs=1e-6)
    assert set(m) >= {"n_docs", "labels", "micro", "macro", "fields", "doc_exact_match"} and m["n_docs"] == 3


def test_a_value_where_gold_is_empty_breaks_exact_match(resume_schema):
    doc = Document("c", "本科", [], fields={"education": None, "major": None, "industry": None})
    scorer = Scorer(resume_schema)
    scorer.add(doc, [Entity(0, 2, "EDU")])
    m = scorer.result()
    assert m["doc_exact_match"] == 0.0 and m["fields"]["education"]["precision"] == 0.0
