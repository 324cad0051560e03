"""The embedded default job end to end, at a tiny size."""
import csv
import json

from sqlalchemy import create_engine, func, select

from extractor.demo import extracted, resumes, run_demo

from conftest import ROOT, TINY_BILSTM


def test_demo_runs_end_to_end_on_sqlite(tmp_path, capsys):
    metrics = run_demo(tmp_path, ROOT / "schemas" / "resume.yaml", n_train=30, n_dev=6, n_nightly=20, epochs=1,
                       max_minutes=5, encoder_options=TINY_BILSTM)
    engine = create_engine(f"sqlite:///{tmp_path / 'resumes.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(resumes)).scalar_one() == 20
        n_values = conn.execute(select(func.count()).select_from(extracted)).scalar_one()
    with (tmp_path / "fields.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and {"doc_id", "education", "education_confidence", "major", "industry"} <= set(rows[0])
    assert n_values == sum(bool(r[f]) for r in rows for f in ("education", "major", "industry"))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["n_docs"] == 20 and saved["doc_exact_match"] == metrics["doc_exact_match"]
    assert "document exact match" in capsys.readouterr().out
