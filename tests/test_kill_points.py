"""A nightly run killed with SIGKILL at ten seeded points (model load, mid-batch, around the batch commit,
the sink export, the report), on SQLite and (when a server is configured) PostgreSQL: the rerun leaves
the same field values, ledger and CSV sink as a clean run, and no temporary files.

The kills are deterministic: a wrapper script patches the function at the point so that its N-th call
kills its own process (``os.kill(os.getpid(), SIGKILL)``), then runs ``extractor.cli.main``."""
import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import ROOT
from sqlalchemy import select
from test_nightly import BACKENDS, Setup, nightly_docs, tiny_model  # noqa: F401  (tiny_model: a fixture)

from extractor.nightly import database as db

N = 16
# docs_per_commit 4: four batches, one predict_chunk call each. report.min_docs 1: a report on these
# few documents becomes latest.json, so the kill before its rename is reachable.
RUN = {"docs_per_commit": "4", "report.min_docs": "1"}

KILL_AT = r'''
import os, signal, sys
point, nth = sys.argv[1], int(sys.argv[2])
sys.argv = [sys.argv[0], *sys.argv[3:]]
calls = [0]

def due():
    calls[0] += 1
    return calls[0] == nth

def die():
    sys.stdout.flush(); sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def wrap(owner, name, before=True, when=lambda *a, **k: True):
    original = getattr(owner, name)
    def patched(*args, **kwargs):
        if before and when(*args, **kwargs) and due():
            die()
        out = original(*args, **kwargs)
        if not before and when(*args, **kwargs) and due():
            die()
        return out
    setattr(owner, name, patched)

if point == "load_model":
    import extractor.model.directory as directory, extractor.nightly.field_predictor as fp
    wrap(fp, "load_model")
elif point == "predict_chunk":
    from extractor.model.predict import Predictor
    wrap(Predictor, "predict_chunk")
elif point == "commit_before":
    import extractor.nightly.runner as runner
    wrap(runner, "commit_batch")
elif point == "commit_after":
    import extractor.nightly.runner as runner
    wrap(runner, "commit_batch", before=False)
elif point == "sink_row":  # the temporary CSV exists and holds some rows
    from extractor.nightly.sinks import _WideTableFiles
    wrap(_WideTableFiles, "write_row")
elif point == "sink_rename":  # the temporary CSV is complete, not yet renamed into place
    import pathlib
    wrap(pathlib.Path, "replace", when=lambda self, target: self.name.startswith(".fields.csv.tmp"))
elif point == "report_markdown":  # report-*.json and .csv written, .md and .html not
    import extractor.nightly.reports as reports
    wrap(reports, "report_markdown")
elif point == "report_latest":  # the temporary latest.json is written, not yet renamed into place
    import pathlib
    wrap(pathlib.Path, "replace", when=lambda self, target: self.name.startswith(".latest.json.tmp"))
else:
    raise SystemExit(f"unknown kill point {point}")

from extractor.cli import main
sys.exit(main())
'''

# (point, N-th call): ten seeded kills.
POINTS = [("load_model", 1), ("predict_chunk", 1), ("predict_chunk", 3), ("commit_before", 1),
          ("commit_before", 3), ("commit_after", 2), ("sink_row", 5), ("sink_rename", 1),
          ("report_markdown", 1), ("report_latest", 1)]


def temporaries(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name)


def strip(rows):
    return sorted(r[:6] for r in rows)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, tiny_model):  # noqa: F811
    """One uninterrupted run (SQLite: the values do not depend on the backend), which also exports the
    onnx-int8 model once, before any run is killed."""
    s = Setup("nightly", "sqlite", tmp_path_factory.mktemp("clean"), tiny_model)
    s.write_source(nightly_docs(N))
    s.run(threads=1, **RUN)
    return s


@pytest.fixture
def setup(tmp_path, tiny_model, request):  # noqa: F811
    def make(backend):
        url = request.getfixturevalue("pg_database") if backend == "postgresql" else None
        return Setup("nightly", backend, tmp_path, tiny_model, url)
    return make


@pytest.fixture
def pg_database():
    from conftest import fresh_postgres_database

    with fresh_postgres_database("extractor_k") as url:
        yield url


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("point,nth", POINTS, ids=[f"{p}-{n}" for p, n in POINTS])
def test_a_run_killed_at_a_seeded_point_is_finished_by_the_rerun(clean, setup, tmp_path_factory, backend,
                                                                 point, nth):
    s = setup(backend)
    docs = nightly_docs(N)
    s.write_source(docs)
    script = tmp_path_factory.mktemp("kill-at") / "kill_at.py"
    script.write_text(KILL_AT, encoding="utf-8")
    # One compute thread in both runs (see test_nightly: onnx-int8 scores and the thread count).
    env = dict(os.environ, EXTRACTOR_WORKDIR=str(s.workdir), PYTHONPATH=str(ROOT), EXTRACTOR_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), point, str(nth), *s.args(**RUN)], check=False, env=env,
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-3000:]

    s.run(threads=1, **RUN)

    with s.engine().connect() as conn:
        statuses = [r[0] for r in conn.execute(select(db.runs.c.status).order_by(db.runs.c.run_id))]
    # Killed while loading the model: before the run row was written.
    assert statuses == (["succeeded"] if point == "load_model" else ["interrupted", "succeeded"])
    rows = s.value_rows()
    keys = [r[:3] for r in rows]
    assert len(keys) == len(set(keys))
    assert strip(rows) == strip(clean.value_rows())
    ledger = s.ledger()
    assert sorted(ledger) == sorted(d.doc_id for d in docs)
    assert s.csv_rows() == clean.csv_rows()
    assert temporaries(s.workdir) == []
    # The report: whole, once, and over every document, even when the kill came after the last commit (the
    # rerun predicts the killed run's documents again for it); what the killed run wrote of its own is gone.
    reports = s.workdir / "nightly" / "reports"
    sets = {}
    for p in reports.glob("report-*"):
        sets.setdefault(p.stem, set()).add(p.suffix)
    assert list(sets.values()) == [{".json", ".csv", ".md", ".html"}]
    latest = json.loads((reports / "latest.json").read_text(encoding="utf-8"))
    expected = json.loads((clean.workdir / "nightly" / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert latest["n_docs"] == N
    assert (latest["fields"], latest["micro"], latest["doc_exact_match"]) == \
        (expected["fields"], expected["micro"], expected["doc_exact_match"])
    with s.engine().connect() as conn:
        assert list(conn.execute(select(db.runs.c.report_pending).where(db.runs.c.report_pending.is_not(None)))) == []
