"""A run that ends before writing the accuracy report it owes (its report directory unwritable here; a
kill in test_kill_points) leaves the report to the next run, which predicts that run's unchanged
documents again for it: the report covers every document once, and is owed by no run afterwards."""
import json

from sqlalchemy import select
from test_nightly import Setup, nightly_docs, tiny_model  # noqa: F401  (tiny_model: a fixture)

from extractor.nightly import database as db

N = 12


def pending_reports(s):
    with s.engine().connect() as conn:
        return [tuple(r) for r in conn.execute(select(db.runs.c.run_id, db.runs.c.status, db.runs.c.report_pending)
                                                .order_by(db.runs.c.run_id))]


def test_the_next_run_writes_the_report_a_failed_run_owed(tmp_path, tiny_model):  # noqa: F811
    s = Setup("nightly", "sqlite", tmp_path, tiny_model)
    s.write_source(nightly_docs(N))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the report directory should be", encoding="utf-8")
    output = s.run(expect=5, **{"report.directory": str(blocked), "report.min_docs": "1"})
    assert "rerun" in output
    assert pending_reports(s) == [(1, "failed", 1)]

    reports = tmp_path / "reports"
    summary = s.run(**{"report.directory": str(reports), "report.min_docs": "1"})
    assert (summary["n_processed"], summary["n_skipped"], summary["n_reported_again"]) == (0, N, N)
    latest = json.loads((reports / "latest.json").read_text(encoding="utf-8"))
    assert latest["n_docs"] == N and latest["run_id"] == 2
    assert pending_reports(s) == [(1, "failed", None), (2, "succeeded", None)]

    summary = s.run(**{"report.directory": str(reports), "report.min_docs": "1"})
    assert (summary["n_skipped"], summary["n_reported_again"], summary["report"]) == (N, 0, None)
