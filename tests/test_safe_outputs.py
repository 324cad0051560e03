"""Outputs are safe to open: CSV cells are no formulas, Markdown reports show document text literally,
and temporary files never follow a link placed beside their target."""
import csv
import os

import pytest
from sqlalchemy import insert

from extractor.nightly import database as db
from extractor.nightly.config import SinkConfig
from extractor.nightly.reports import report_markdown, write_report
from extractor.nightly.safe_files import markdown_code
from extractor.nightly.sinks import export_sinks


def small_report(doc_id="cv-1", gold="<script>alert(1)</script>", predicted="**x** [a](http://e)"):
    m = {"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 1.0, "support": 1}
    example = {"doc_id": doc_id, "gold": gold, "predicted": predicted, "excerpt": "e"}
    return {"pipeline": "p", "created_at": "2026-11-24T00:00:00+0000", "n_docs": 1, "doc_exact_match": 1.0,
            "fields": {"major": m}, "labels": {"PRO": m}, "micro": m, "macro": m,
            "examples": {"misses": {"major": [example]}, "false_positives": {}}}


def test_markdown_report_escapes_document_text_and_fences_doc_ids():
    md = report_markdown(small_report(doc_id="a`b``c"))
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "**x**" not in md and "[a](http" not in md
    assert "```a`b``c```" in md
    assert markdown_code("`x") == "`` `x ``" and markdown_code("plain") == "`plain`"


@pytest.fixture
def engine_with_values(tmp_path, resume_schema):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.ensure_schema(engine)
    field = resume_schema.fields[0].name
    with engine.begin() as conn:
        conn.execute(insert(db.runs).values(run_id=1, pipeline="p", model_version="m", rules_version="r",
                                            started_at=__import__("datetime").datetime.now(), status="running"))
        for i, value in enumerate(["=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "本科"]):
            doc_id = f"=cmd{i}" if i == 0 else f"d{i}"
            conn.execute(insert(db.processed_documents).values(doc_id=doc_id, content_hash="h", model_version="m",
                                                               rules_version="r", run_id=1, seen_run_id=1))
            conn.execute(insert(db.field_values).values(
                doc_id=doc_id, field=field, ordinal=0, value=value, raw=value, start=0, end=1, rule="r",
                model_version="m", rules_version="r", run_id=1))
    return engine, field


def test_csv_sink_neutralises_formula_cells(tmp_path, resume_schema, engine_with_values):
    engine, field = engine_with_values
    export_sinks(engine, [SinkConfig("csv", str(tmp_path / "out" / "fields.csv"))], resume_schema, "m", "r")
    with (tmp_path / "out" / "fields.csv").open(encoding="utf-8") as fh:
        rows = {r["doc_id"]: r[field] for r in csv.DictReader(fh)}
    assert rows == {"'=cmd0": "'=HYPERLINK(\"http://evil\")", "d1": "'+1", "d2": "'-2", "d3": "'@SUM(A1)",
                    "d4": "本科"}


def test_temporaries_never_follow_a_link_and_stale_ones_are_removed(tmp_path, resume_schema, engine_with_values):
    engine, _ = engine_with_values
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep", encoding="utf-8")
    for name in ("fields.csv", "fields.parquet"):
        os.symlink(target, out / f".{name}.tmp-{os.getpid()}")  # the name this process would write to
        (out / f".{name}.tmp-99999999").write_text("left by a killed run", encoding="utf-8")
    export_sinks(engine, [SinkConfig("csv", str(out / "fields.csv")),
                          SinkConfig("parquet", str(out / "fields.parquet"))], resume_schema, "m", "r")
    assert target.read_text(encoding="utf-8") == "keep"
    assert sorted(p.name for p in out.iterdir()) == ["fields.csv", "fields.parquet"]

    reports = tmp_path / "reports"
    reports.mkdir()
    os.symlink(target, reports / "latest.json.tmp")
    os.symlink(target, reports / f".latest.json.tmp-{os.getpid()}")
    write_report(small_report(), reports, 0.02)
    assert target.read_text(encoding="utf-8") == "keep"
    assert not any(p.name.startswith(".") or p.name.endswith(".tmp") for p in reports.iterdir())
    assert (reports / "latest.json").is_file() and not (reports / "latest.json").is_symlink()
