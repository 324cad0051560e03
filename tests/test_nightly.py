"""The nightly runner end to end: both shipped pipelines, on SQLite and (when a server is
configured, as in CI) on PostgreSQL: incremental reruns, model changes, quarantine, errors,
reports, and a run killed with SIGKILL."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import ROOT, TINY_BILSTM, fresh_postgres_database
from sqlalchemy import create_engine, select, text

from extractor.cli import main
from extractor.data.documents import Document, write_documents
from extractor.data.sample import generate_documents
from extractor.model.directory import load_model, save_model
from extractor.model.train import TrainConfig, train
from extractor.nightly import database as db
from extractor.nightly.safe_files import csv_cell
from extractor.rules.schema import Schema

PG_URL = os.environ.get("EXTRACTOR_TEST_POSTGRES_URL")
RULES = str(ROOT / "schemas" / "resume_nightly.yaml")
N_DOCS = 40
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="no PostgreSQL server: set EXTRACTOR_TEST_POSTGRES_URL (.ci/run does)"))]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, sample_docs):
    out = tmp_path_factory.mktemp("nightly-model") / "model"
    cfg = TrainConfig(epochs=1, seed=1, max_tokens=64, stride=48, patience=2, encoder_options=TINY_BILSTM)
    # A few dev docs: train() only saves a checkpoint on dev improvement when given dev docs.
    train(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), sample_docs[:36], sample_docs[36:40], out)
    return out


@pytest.fixture(scope="module")
def other_model(tiny_model, tmp_path_factory):
    """The same network with one weight nudged: new weights, so a new model version."""
    loaded = load_model(tiny_model)
    with __import__("torch").no_grad():
        next(loaded.model.parameters()).mul_(1.001)
    out = save_model(tmp_path_factory.mktemp("nightly-model-2") / "model", loaded)
    assert load_model(out).version != load_model(tiny_model).version
    return out


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database per test, dropped afterwards."""
    with fresh_postgres_database("extractor_t") as url:
        yield url


def nightly_docs(n=N_DOCS, seed=11):
    return [Document(f"cv-{i:04d}", d.text, d.entities) for i, d in enumerate(generate_documents(n, seed=seed), 1)]


class Setup:
    """A work directory and the --set overrides that point one shipped pipeline at it."""

    def __init__(self, pipeline, backend, workdir, model, url=None):
        self.pipeline, self.backend, self.workdir, self.model = pipeline, backend, workdir, model
        self.url = url if backend == "postgresql" else f"sqlite:///{workdir / 'extracted.db'}"
        self.source_url = url if backend == "postgresql" else f"sqlite:///{workdir / 'resumes.db'}"
        # industry none: these work directories hold no fitted resolver (test_demo and test_industry_cli
        # run the resolver path end to end).
        self.settings = {"model": str(model), "schema": RULES, "database": self.url, "docs_per_commit": "8",
                         "predict.max_span_len": "12", "industry": "none"}
        if pipeline == "nightly":
            self.settings["source.url"] = self.source_url

    def write_source(self, docs):
        if self.pipeline == "parquet":
            write_documents(docs, self.workdir / "resumes.parquet")
            return
        engine = create_engine(self.source_url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS resumes"))
            conn.execute(text("CREATE TABLE resumes (doc_id VARCHAR(64) PRIMARY KEY, text TEXT, "
                              "updated_at VARCHAR(40), gold_entities TEXT)"))
            conn.execute(text("INSERT INTO resumes VALUES (:i, :t, :u, :g)"), [
                {"i": d.doc_id, "t": d.text, "u": "2026-11-24", "g": json.dumps([e.to_dict() for e in d.entities])}
                for d in docs])
        engine.dispose()

    def args(self, *extra, **overrides):
        settings = dict(self.settings, **overrides)
        return ["run", str(ROOT / "pipelines" / f"{self.pipeline}.yaml"),
                *[x for k, v in settings.items() for x in ("--set", f"{k}={v}")], *extra]

    def run(self, *extra, expect=0, threads=None, **overrides):
        env = {"EXTRACTOR_WORKDIR": str(self.workdir), **({"EXTRACTOR_THREADS": str(threads)} if threads else {})}
        result = CliRunner().invoke(main, self.args(*extra, **overrides), catch_exceptions=False, env=env)
        assert result.exit_code == expect, result.output
        return json.loads(result.output.strip().splitlines()[-1]) if expect == 0 else result.output

    def engine(self):
        return create_engine(self.url)

    def value_rows(self, model_version=None):
        with self.engine().connect() as conn:
            stmt = select(db.field_values.c.doc_id, db.field_values.c.field, db.field_values.c.ordinal,
                          db.field_values.c.value, db.field_values.c.start, db.field_values.c.end,
                          db.field_values.c.model_version)
            if model_version:
                stmt = stmt.where(db.field_values.c.model_version == model_version)
            return [tuple(r) for r in conn.execute(stmt)]

    def ledger(self):
        with self.engine().connect() as conn:
            return {r.doc_id: r for r in conn.execute(select(db.processed_documents))}

    def csv_rows(self):
        sub = "nightly" if self.pipeline == "nightly" else "parquet"
        with (self.workdir / sub / "fields.csv").open(encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


@pytest.fixture
def setup_for(tmp_path, tiny_model, request):
    def make(pipeline, backend):
        url = request.getfixturevalue("pg_database") if backend == "postgresql" else None
        return Setup(pipeline, backend, tmp_path, tiny_model, url)
    return make


def assert_no_duplicates(rows):
    keys = [(doc_id, field, ordinal, mv) for doc_id, field, ordinal, _, _, _, mv in rows]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pipeline", ["nightly", "parquet"])
def test_incremental_runs(setup_for, other_model, pipeline, backend):
    s = setup_for(pipeline, backend)
    docs = nightly_docs()
    s.write_source(docs)

    first = s.run()
    assert (first["status"], first["n_read"], first["n_processed"], first["n_skipped"]) == ("succeeded", 40, 40, 0)
    assert first["n_windows"] >= 40 and first["report"]["n_docs"] == 40
    rows = s.value_rows()
    assert rows and {r[0] for r in rows} <= {d.doc_id for d in docs}
    assert_no_duplicates(rows)
    wide = s.csv_rows()
    assert sorted(r["doc_id"] for r in wide) == sorted(d.doc_id for d in docs)
    assert {"education", "education_confidence", "major", "industry", "industry_code"} <= set(wide[0])
    # The wide table and the long table say the same thing.
    # The wide row joins a document's values with "|" in ordinal order (a raw value may itself hold a "|").
    industry = {}
    for doc_id, field, _ordinal, value, *_ in sorted(rows, key=lambda r: (r[0], r[2])):
        if field == "industry":
            industry.setdefault(doc_id, []).append(value)
    # The CSV guards a cell a spreadsheet would run as a formula (a value starting with "-", "=" ...).
    expected = {k: csv_cell("|".join(v)) for k, v in industry.items()}
    assert {r["doc_id"]: r["industry"] for r in wide if r["industry"]} == expected
    if pipeline == "parquet":
        assert pq.read_table(s.workdir / "parquet" / "fields.parquet").num_rows == 40

    second = s.run()
    assert (second["n_processed"], second["n_skipped"], second["n_windows"]) == (0, 40, 0)
    assert sorted(s.value_rows()) == sorted(rows) and len(s.csv_rows()) == 40

    changed = {d.doc_id for d in docs[5:15]}
    s.write_source([Document(d.doc_id, d.text + "\n期望行业：金融", d.entities) if d.doc_id in changed else d
                    for d in docs])
    third = s.run()
    assert (third["n_processed"], third["n_skipped"]) == (10, 30)
    ledger = s.ledger()
    assert {i for i, r in ledger.items() if r.run_id == third["run_id"]} == changed
    assert_no_duplicates(s.value_rows())

    fourth = s.run(model=str(other_model))
    assert (fourth["n_processed"], fourth["n_skipped"]) == (40, 0)
    assert fourth["model_version"] != first["model_version"]
    new_rows = s.value_rows(fourth["model_version"])
    assert {r[0] for r in new_rows} == {r[0] for r in s.value_rows(first["model_version"])} | {r[0] for r in new_rows}
    assert_no_duplicates(s.value_rows())
    assert len(s.csv_rows()) == 40

    refresh = s.run("--full-refresh", model=str(other_model))
    assert refresh["n_processed"] == 40
    assert sorted(s.value_rows(fourth["model_version"])) == sorted(new_rows)  # same model: same rows, not doubled
    with s.engine().connect() as conn:
        statuses = conn.execute(select(db.runs.c.status, db.runs.c.n_processed).order_by(db.runs.c.run_id)).all()
    assert statuses == [("succeeded", 40), ("succeeded", 0), ("succeeded", 10), ("succeeded", 40), ("succeeded", 40)]


def test_new_rules_reprocess_everything(setup_for, tmp_path):
    s = setup_for("parquet", "sqlite")
    s.write_source(nightly_docs(12))
    assert s.run()["n_processed"] == 12
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"extends: {RULES}\nfields:\n  major: {{select: all}}\n", encoding="utf-8")
    again = s.run(schema=str(rules))
    assert again["n_processed"] == 12 and again["rules_version"] == Schema.load(rules).rules_version


def test_sql_source_from_a_query(setup_for):
    s = setup_for("nightly", "sqlite")
    s.write_source(nightly_docs(12))
    out = s.run(**{"source.table": "", "source.query": "SELECT * FROM resumes WHERE doc_id <= 'cv-0005'"})
    assert (out["n_read"], out["n_processed"]) == (5, 5)
    assert {r["doc_id"] for r in s.csv_rows()} == {f"cv-{i:04d}" for i in range(1, 6)}


def test_stale_values_are_removed_when_a_field_disappears(setup_for):
    s = setup_for("parquet", "sqlite")
    docs = nightly_docs(12)
    s.write_source(docs)
    s.run()
    before = {r[0] for r in s.value_rows()}
    victim = sorted(before)[0]
    # The document loses all its text but one neutral sentence, and a threshold above every score makes sure
    # no field comes out of it (a barely trained model may still see an entity in any text).
    s.write_source([Document(d.doc_id, "个人简历" if d.doc_id == victim else d.text) for d in docs])
    # A new threshold is part of the version, so every document is reprocessed under it (the same-version
    # replacement of one document's values is pinned in tests/test_ledger.py).
    second = s.run(**{"predict.threshold": "1e9"})
    assert second["n_processed"] == 12
    assert victim not in {r[0] for r in s.value_rows(second["model_version"])}
    row = next(r for r in s.csv_rows() if r["doc_id"] == victim)
    assert row["education"] == row["major"] == row["industry"] == ""


def test_bad_records_are_quarantined_and_counted(setup_for):
    s = setup_for("nightly", "sqlite")
    good = nightly_docs(6)
    engine = create_engine(s.source_url)
    with engine.begin() as conn:
        # No declared types and no key: the table can hold what real dumps hold (ints, blobs, duplicates).
        conn.execute(text("CREATE TABLE cv (doc_id, body, changed)"))
        rows = [(d.doc_id, d.text) for d in good] + [
            ("cv-0002", good[2].text + "重复"), ("n1", None), ("e1", ""), ("i1", 12345),
            ("big", "本科" * 400), ("bad", "本科\ufffd学历"), ("blob", b"\xff\xfe\x00"), (None, "本科")]
        conn.execute(text("INSERT INTO cv VALUES (:i, :t, 'x')"), [{"i": i, "t": t} for i, t in rows])
    cv = {"source.table": "cv", "source.columns.text": "body", "source.columns.updated_at": "changed",
          "source.columns.gold_entities": "", "max_chars": "500"}
    out = s.run(**cv)
    assert (out["n_read"], out["n_processed"], out["n_quarantined"]) == (14, 6, 8)
    assert out["quarantine_reasons"] == {"duplicate_id": 1, "null_text": 1, "empty_text": 1, "non_string_text": 1,
                                         "oversize": 1, "undecodable": 2, "missing_id": 1}
    with s.engine().connect() as conn:
        q = conn.execute(select(db.quarantine.c.doc_id, db.quarantine.c.reason, db.quarantine.c.position)).all()
    assert len(q) == 8 and ("cv-0002", "duplicate_id", 6) in q
    # Nothing is lost: every record read is processed, skipped or quarantined.
    again = s.run(**cv)
    assert (again["n_processed"], again["n_skipped"], again["n_quarantined"]) == (0, 6, 8)


def test_clear_errors_and_exit_codes(setup_for, tmp_path):
    s = setup_for("parquet", "sqlite")
    import pyarrow as pa

    pq.write_table(pa.table({"doc_id": ["a"], "body": ["本科"], "entities": [[]]}), tmp_path / "resumes.parquet")
    out = s.run(expect=1)
    assert "missing column(s) ['text']" in out and "resumes.parquet" in out and "'body'" in out
    assert not (tmp_path / "extracted.db").exists()  # nothing half-written

    (tmp_path / "resumes.parquet").write_bytes(b"not parquet at all")
    assert "not a readable Parquet file" in s.run(expect=1)

    write_documents(nightly_docs(3), tmp_path / "resumes.parquet")
    out = s.run(expect=3, database="postgresql+psycopg://nobody@127.0.0.1:1/nothing")
    assert "cannot connect" in out and "Traceback" not in out

    n = setup_for("nightly", "sqlite")
    assert "no such SQLite database file" in n.run(expect=1)
    assert not (tmp_path / "resumes.db").exists()
    n.write_source(nightly_docs(2))
    out = n.run(expect=1, **{"source.table": "no_such_table"})
    assert "no table 'no_such_table'" in out

    result = CliRunner().invoke(main, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "no such pipeline file" in result.output


def test_report_files_and_regression_exit_code(setup_for, tmp_path):
    s = setup_for("parquet", "sqlite")
    s.write_source(nightly_docs(12))
    args = ["report", str(ROOT / "pipelines" / "parquet.yaml"), "--set", f"model={s.model}", "--set",
            f"schema={RULES}", "--set", "predict.max_span_len=12", "--set", "report.min_docs=1", "--industry", "none"]
    env = {"EXTRACTOR_WORKDIR": str(tmp_path)}
    first = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output.strip().splitlines()[-1])
    assert summary["n_docs"] == 12 and summary["regressions"] == []
    report = json.loads(Path(summary["outputs"]["json"]).read_text(encoding="utf-8"))
    assert {"n_docs", "labels", "micro", "macro", "fields", "doc_exact_match"} <= set(report)
    assert set(report["distributions"]) == {"education", "major", "industry"}
    html = Path(summary["outputs"]["html"]).read_text(encoding="utf-8")
    assert html.count("<svg") >= 6 and "<script" not in html and "http" not in html  # self-contained
    assert "| education |" in Path(summary["outputs"]["md"]).read_text(encoding="utf-8")
    assert Path(summary["outputs"]["csv"]).read_text(encoding="utf-8").startswith("kind,name,precision")

    # Same model, same documents: no drop.
    assert CliRunner().invoke(main, args, env=env).exit_code == 0
    # A previous report where major was better than now: the scheduler must hear about it.
    latest = tmp_path / "parquet" / "reports" / "latest.json"
    previous = json.loads(latest.read_text(encoding="utf-8"))
    previous["fields"]["major"]["f1"] = report["fields"]["major"]["f1"] + 0.05
    latest.write_text(json.dumps(previous), encoding="utf-8")
    dropped = CliRunner().invoke(main, args, env=env)
    assert dropped.exit_code == 4 and "major F1 dropped" in dropped.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_commands_upgrade_downgrade_and_report_the_revision(tmp_path, backend, request):
    url = request.getfixturevalue("pg_database") if backend == "postgresql" else f"sqlite:///{tmp_path / 'x.db'}"

    def db_cli(*args):
        result = CliRunner().invoke(main, ["db", *args, "--url", url], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output.strip().splitlines()[-1])

    assert db_cli("current") == {"url": url, "revision": None, "head": db.head()}
    assert db_cli("upgrade")["revision"] == db.head()
    with create_engine(url).connect() as conn:
        from sqlalchemy import inspect

        assert {"extractor_runs", "extractor_field_values", "extractor_quarantine",
                "extractor_processed_documents"} <= set(inspect(conn).get_table_names())
        assert "confidence" in {c["name"] for c in inspect(conn).get_columns("extractor_field_values")}
    assert db_cli("downgrade", "--revision", "0001")["revision"] == "0001"
    with create_engine(url).connect() as conn:
        from sqlalchemy import inspect

        assert "confidence" not in {c["name"] for c in inspect(conn).get_columns("extractor_field_values")}
    assert db_cli("downgrade", "--revision", "base")["revision"] is None
    with create_engine(url).connect() as conn:
        from sqlalchemy import inspect

        assert not any(t.startswith("extractor_") for t in inspect(conn).get_table_names())
    bad = CliRunner().invoke(main, ["db", "current", "--url", "postgresql+psycopg://nobody@127.0.0.1:1/x"])
    assert bad.exit_code == 3 and "cannot connect" in bad.output


KILLABLE = """
import sys, time
import extractor.nightly.runner as runner
commit_batch = runner.commit_batch
def slow_commit_batch(*args, **kwargs):
    outcome = commit_batch(*args, **kwargs)
    time.sleep(0.4)  # a long night: leaves time to kill the run between committed batches
    return outcome
runner.commit_batch = slow_commit_batch
from extractor.cli import main
sys.exit(main())
"""


@pytest.fixture
def torch_threads_restored():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_killed_with_sigkill_is_finished_by_the_rerun(setup_for, tmp_path_factory, tiny_model, backend,
                                                           torch_threads_restored):
    s = setup_for("nightly", backend)
    docs = nightly_docs()
    s.write_source(docs)
    script = tmp_path_factory.mktemp("killable") / "killable.py"
    script.write_text(KILLABLE, encoding="utf-8")
    # One compute thread in every run below: with the onnx-int8 runtime a near-zero score of this barely
    # trained model can flip with the thread count (a different ONNX Runtime session, other float sums).
    env = dict(os.environ, EXTRACTOR_WORKDIR=str(s.workdir), PYTHONPATH=str(ROOT), EXTRACTOR_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(script), *s.args(docs_per_commit="4")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    committed = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            committed = len(s.ledger())
        except Exception:  # tables not created yet
            committed = 0
        if committed >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    committed = len(s.ledger())
    assert 8 <= committed < 40, committed

    rerun = s.run(threads=1, docs_per_commit="4")
    assert (rerun["n_processed"], rerun["n_skipped"]) == (40 - committed, committed)
    with s.engine().connect() as conn:
        statuses = [r[0] for r in conn.execute(select(db.runs.c.status).order_by(db.runs.c.run_id))]
    assert statuses == ["interrupted", "succeeded"]
    rows = s.value_rows()
    assert_no_duplicates(rows)
    assert set(s.ledger()) == {d.doc_id for d in docs} and len(s.csv_rows()) == 40

    # Exactly the rows an uninterrupted run writes: none missing, none extra.
    clean = Setup("nightly", "sqlite", tmp_path_factory.mktemp("clean"), tiny_model)
    clean.write_source(docs)
    # The same documents per commit as the killed run: with the onnx-int8 runtime a document's scores
    # depend on which documents share its batch (dynamic activation quantisation; an open issue), and
    # the killed run's batches of 4 must meet the same batches here for the values to be comparable.
    clean.run(docs_per_commit="4", threads=1)
    strip = lambda rs: sorted(r[:6] for r in rs)  # noqa: E731
    assert strip(rows) == strip(clean.value_rows())
