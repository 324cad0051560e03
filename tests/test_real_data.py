"""Checks on the real Chinese Resume NER data; skipped when ../shared is absent."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT, SHARED_DATA, SHARED_TOOLS

from extractor.data.conll import read_conll
from extractor.data.documents import Document
from extractor.rules.fields import field_strings
from extractor.rules.schema import Schema

DEV = SHARED_DATA / "dev.char.bmes"
pytestmark = pytest.mark.skipif(not DEV.exists(), reason="Resume NER data not in ../shared/data/resume_ner")


@pytest.fixture(scope="module")
def schema():
    return Schema.load(ROOT / "schemas" / "resume_ner.yaml")


def test_import_conll_reads_every_dev_sentence_and_entity(schema):
    docs = list(read_conll(DEV, scheme="bmes"))
    assert len(docs) == 463  # sentences, per the data README
    assert sum(len(d.text) for d in docs) == 13_890
    assert sum(len(d.entities) for d in docs) == 1_497
    assert {e.label for d in docs for e in d.entities} == set(schema.labels)


def test_bios_from_the_shared_tool_validate_against_the_schema(schema):
    out = subprocess.run([sys.executable, str(SHARED_TOOLS / "resume_ner_docs.py"), str(DEV)],
                         check=True, capture_output=True, text=True).stdout
    docs = [Document.from_dict(json.loads(line), schema.labels) for line in out.splitlines()]
    assert len(docs) == 104
    # Every gold EDU surface form normalises to a known education level.
    order = set(next(f for f in schema.fields if f.name == "education").order)
    values = {field_strings(d.text, d.entities, schema)["education"] for d in docs} - {None}
    assert values and values <= order, values - order


INDUSTRY_DEV = SHARED_DATA / "industry_dev.jsonl"


@pytest.mark.skipif(not INDUSTRY_DEV.exists(), reason="industry labels not in ../shared/data/resume_ner")
def test_keyword_rules_on_gold_employers_give_the_industry_of_most_labelled_dev_bios(schema):
    """The floor of the product's no-table path on real bios: gold ORG spans, employer choice, GB/T
    keyword rules (72.2% when measured; docs/benchmarks.md)."""
    from extractor.model.metrics import Scorer

    out = subprocess.run([sys.executable, str(SHARED_TOOLS / "resume_ner_docs.py"), str(DEV)],
                         check=True, capture_output=True, text=True).stdout
    labels = {row["doc_id"]: row for row in map(json.loads, INDUSTRY_DEV.read_text(encoding="utf-8").splitlines())}
    scorer = Scorer(schema.with_industry("none"))
    for line in out.splitlines():
        doc = Document.from_dict(json.loads(line), schema.labels)
        label = labels[doc.doc_id]
        if label["confidence"] in ("high", "medium"):
            doc = Document(doc.doc_id, doc.text, doc.entities, {"industry": label["section"]})
            scorer.add(doc, doc.entities)
    result = scorer.result()
    assert result["n_docs"] == 79
    assert result["fields"]["industry"]["accuracy"] >= 0.70
