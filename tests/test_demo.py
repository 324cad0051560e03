"""The embedded default job end to end, at a tiny size: sample -> SQLite -> train -> pipelines/nightly.yaml."""
import csv
import json

from conftest import ROOT, TINY_BILSTM
from sqlalchemy import create_engine, func, select

from extractor.nightly import database as db
from extractor.nightly.demo import resumes, run_demo


def test_demo_runs_the_nightly_pipeline_on_sqlite(tmp_path, capsys):
    kwargs = dict(n_train=30, n_dev=6, n_nightly=20, epochs=1, max_minutes=5, encoder_options=TINY_BILSTM,
                  min_f1=0.0)  # one tiny epoch: a working pipeline, not a usable model
    metrics = run_demo(tmp_path, ROOT / "schemas" / "resume.yaml", **kwargs)
    assert (tmp_path / "model" / "config.json").exists() and (tmp_path / "resumes.parquet").exists()
    with create_engine(f"sqlite:///{tmp_path / 'resumes.db'}").connect() as conn:
        assert conn.execute(select(func.count()).select_from(resumes)).scalar_one() == 20
    with create_engine(f"sqlite:///{tmp_path / 'extracted.db'}").connect() as conn:
        n_values = conn.execute(select(func.count()).select_from(db.field_values)).scalar_one()
        runs = conn.execute(select(db.runs.c.status, db.runs.c.n_processed)).all()
    assert runs == [("succeeded", 20)]
    with (tmp_path / "nightly" / "fields.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and {"doc_id", "education", "education_confidence", "major", "industry",
                                "industry_code"} <= set(rows[0])
    assert n_values == sum(bool(r[f]) for r in rows for f in ("education", "major", "industry"))  # one value each
    reports = list((tmp_path / "nightly" / "reports").glob("report-*.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["n_docs"] == 20 == metrics["n_docs"]
    assert "document exact match" in capsys.readouterr().out

    # A second demo keeps the model and finds nothing new to process, but still prints the figures.
    again = run_demo(tmp_path, ROOT / "schemas" / "resume.yaml", **kwargs)
    assert again["fields"] == metrics["fields"]
    assert '"n_processed": 0' in capsys.readouterr().out
