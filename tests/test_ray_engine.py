"""`extractor run --engine ray` on a local two-CPU Ray instance: the same results, run record, ledger and
quarantine as the local runner, row for row; incremental reruns across engines; clear errors.

One Ray instance serves the whole module (starting one takes seconds); the engine reuses a session its
caller opened. Skipped where the ray extra is not installed.
"""
import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import ROOT

from extractor.cli import main
from extractor.data.documents import Document, write_documents
from extractor.data.sample import generate_documents
from extractor.nightly.demo import prepare_industry_resolver

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

RULES = str(ROOT / "schemas" / "resume_nightly.yaml")
RAY_POOL = "{concurrency: 2, num_cpus_per_actor: 0.5, docs_per_call: 8}"  # two actors, one CPU left for reading


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Both engines predict with one torch thread (a Ray actor of <= 1 CPU does), as a shared machine should."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def night(n=40, seed=11):
    return [Document(f"cv-{i:04d}", d.text, d.entities) for i, d in enumerate(generate_documents(n, seed=seed), 1)]


def write_input(directory, docs, bad=True):
    """Two Parquet files (read in name order); the second holds bad records and a duplicate id."""
    directory.mkdir(parents=True, exist_ok=True)
    write_documents(docs[:25], directory / "part-0.parquet")
    rows = [d.to_dict() for d in docs[25:]]
    if bad:
        rows += [{"doc_id": "cv-0003", "text": docs[2].text + "重复", "entities": []},   # duplicate id
                 {"doc_id": None, "text": "本科", "entities": []},                       # missing id
                 {"doc_id": "empty", "text": "   ", "entities": []},                    # empty text
                 {"doc_id": "big", "text": "本科" * 400, "entities": []},                # over max_chars
                 {"doc_id": "fffd", "text": "本科\ufffd学历", "entities": []},             # undecodable
                 {"doc_id": "gold", "text": "本科", "entities": [{"start": 0, "end": 9, "label": "EDU"}]}]
    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())])
    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("entities", pa.list_(entity))])
    pq.write_table(pa.Table.from_pylist([{k: r[k] for k in ("doc_id", "text", "entities")} for r in rows],
                                        schema=schema), directory / "part-1.parquet")


class Engine:
    """One engine running the shipped Parquet pipeline with its state database and outputs in ``workdir``."""

    def __init__(self, name, workdir, source, model, **overrides):
        self.name, self.workdir = name, workdir
        # predict.windows_per_batch 1: every window is its own forward pass, so no score depends on which documents
        # shared a batch (batching changes float32 results in the last bit; see docs/ray.md).
        self.settings = {"source.path": source, "model": model, "schema": RULES, "industry": "none",
                         "database": f"sqlite:///{workdir / 'state.db'}", "docs_per_commit": 8,
                         "predict.windows_per_batch": 1, "predict.max_span_len": 12, "max_chars": 700, "ray": RAY_POOL,
                         "sinks": f"[{{type: parquet, path: {workdir / 'fields.parquet'}}}, "
                                  f"{{type: csv, path: {workdir / 'fields.csv'}}}]",
                         "report.directory": workdir / "reports", **overrides}

    def args(self, *more):
        return ["run", str(ROOT / "pipelines" / "parquet.yaml"), "--engine", self.name, *more,
                *[x for k, v in self.settings.items() for x in ("--set", f"{k}={v}")]]

    def run(self, *more, expect=0):
        result = CliRunner().invoke(main, self.args(*more), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return json.loads(result.output.strip().splitlines()[-1]) if expect == 0 else result.output

    def query(self, sql):
        with sqlite3.connect(self.workdir / "state.db") as conn:
            return sorted(conn.execute(sql).fetchall(), key=repr)

    def table(self):
        return pq.read_table(self.workdir / "fields.parquet").sort_by("doc_id")


COUNTS = ("status", "n_read", "n_processed", "n_skipped", "n_quarantined", "n_windows", "quarantine_reasons",
          "model_version", "rules_version", "report")
VALUES = 'SELECT doc_id, field, ordinal, value, code, raw, start, "end", score, rule, model_version, rules_version ' \
         'FROM extractor_field_values'
LEDGER = "SELECT doc_id, content_hash, model_version, rules_version FROM extractor_processed_documents"
QUARANTINE = "SELECT doc_id, position, reason, detail, text_preview FROM extractor_quarantine"
RUNS = "SELECT status, full_refresh, n_read, n_processed, n_skipped, n_quarantined, n_windows, model_version, " \
       "rules_version FROM extractor_runs"


def assert_same(a, b):
    assert a.table().equals(b.table())  # the Parquet output, row for row
    assert a.query(VALUES) == b.query(VALUES)  # every value with its span, score and rule
    assert a.query(LEDGER) == b.query(LEDGER)
    assert a.query(QUARANTINE) == b.query(QUARANTINE)
    assert a.query(RUNS) == b.query(RUNS)


def test_ray_run_equals_local_run_and_reruns_are_incremental(tmp_path, tiny_model_dir):
    source = tmp_path / "input"
    docs = night()
    write_input(source, docs)
    local = Engine("local", tmp_path / "local", source, tiny_model_dir)
    on_ray = Engine("ray", tmp_path / "ray", source, tiny_model_dir)

    first_local, first_ray = local.run(), on_ray.run()
    assert first_ray["engine"] == "ray" and first_local["engine"] == "local"
    assert {k: first_ray[k] for k in COUNTS} == {k: first_local[k] for k in COUNTS}
    assert (first_ray["n_read"], first_ray["n_processed"], first_ray["n_quarantined"]) == (46, 40, 6), first_ray
    assert first_ray["quarantine_reasons"] == {"duplicate_id": 1, "missing_id": 1, "empty_text": 1, "oversize": 1,
                                               "undecodable": 1, "bad_gold": 1}
    assert first_ray["report"]["n_docs"] == 40 and "report_json" in first_ray["outputs"]
    table = on_ray.table()
    assert table.column("doc_id").to_pylist() == sorted(d.doc_id for d in docs)
    assert any(v is not None for v in table.column("education").to_pylist())
    assert_same(local, on_ray)
    # Positions count across files, in name order: the duplicate is record 40 (part-0 holds 25 records,
    # part-1 15 documents before it), exactly where the local runner found it.
    assert ("cv-0003", 40, "duplicate_id") in [q[:3] for q in on_ray.query(QUARANTINE)]

    # Nothing changed: nothing is predicted again, by either engine, and the outputs stay as they were.
    again_local, again = local.run(), on_ray.run()
    assert (again["n_read"], again["n_processed"], again["n_skipped"], again["n_windows"]) == (46, 0, 40, 0)
    assert {k: again[k] for k in COUNTS} == {k: again_local[k] for k in COUNTS}
    assert on_ray.table().equals(table)

    # Ten documents change; a Ray run processes exactly those, and agrees with a local run doing the same.
    changed = {d.doc_id for d in docs[20:30]}
    write_input(source, [Document(d.doc_id, d.text + "\n期望行业：金融", d.entities) if d.doc_id in changed else d
                         for d in docs])
    third_local, third_ray = local.run(), on_ray.run()
    assert (third_ray["n_processed"], third_ray["n_skipped"]) == (10, 30)
    assert {k: third_ray[k] for k in COUNTS if k != "report"} == {k: third_local[k] for k in COUNTS if k != "report"}
    assert_same(local, on_ray)
    assert {r[0] for r in on_ray.query("SELECT doc_id, run_id FROM extractor_processed_documents") if r[1] == 3} \
        == changed

    # One ledger, whichever engine wrote it: a local run after the Ray runs has nothing left to do.
    after = Engine("local", tmp_path / "ray", source, tiny_model_dir)
    assert (lambda s: (s["n_processed"], s["n_skipped"]))(after.run()) == (0, 40)
    assert [r[0] for r in on_ray.query("SELECT run_id, status FROM extractor_runs")] == [1, 2, 3, 4]

    # --full-refresh and --limit mean the same on Ray.
    limited_local = local.run("--full-refresh", "--limit", "12")
    limited_ray = on_ray.run("--full-refresh", "--limit", "12")
    assert (limited_ray["n_read"], limited_ray["n_processed"]) == (12, 12)
    assert {k: limited_ray[k] for k in COUNTS if k != "report"} == \
        {k: limited_local[k] for k in COUNTS if k != "report"}


def test_a_pool_that_would_take_every_cpu_is_refused(tmp_path, tiny_model_dir):
    source = tmp_path / "input"
    write_input(source, night(4), bad=False)
    greedy = Engine("ray", tmp_path / "ray", source, tiny_model_dir, ray="{concurrency: 2, num_cpus_per_actor: 1}")
    message = greedy.run(expect=1)
    assert "one must stay free for reading" in message and "Traceback" not in message
    assert greedy.query("SELECT run_id FROM extractor_runs") == []  # refused before the run row is written


def test_a_failing_actor_fails_the_run_with_its_reason(tmp_path, tiny_model_dir, monkeypatch):
    """As if the model directory were retrained in place after the driver read it: every actor refuses to
    predict with other weights than the run records; the run fails with that reason, not a Ray traceback."""
    import extractor.nightly.ray_engine as ray_engine

    real = ray_engine.field_predictor_settings
    monkeypatch.setattr(ray_engine, "field_predictor_settings",
                        lambda *a, **k: real(*a, **dict(k, model_version="0123456789abcdef")))
    source = tmp_path / "input"
    write_input(source, night(4), bad=False)
    failing = Engine("ray", tmp_path / "ray", source, tiny_model_dir)
    output = failing.run(expect=1)
    error = next(line for line in output.splitlines() if line.startswith("error: "))  # Ray logs its own lines
    assert error.startswith("error: the Ray job failed: ValueError:") and "expected model_version 0123456789abcdef" \
        in error
    assert "extractor/cli.py" not in output  # no traceback of ours
    assert failing.query("SELECT status, n_read, n_processed FROM extractor_runs") == [("failed", 4, 0)]


def test_the_shipped_ray_pipeline_runs(tmp_path, tiny_model_dir):
    """pipelines/parquet_ray.yaml as shipped: a pool sized from the cluster (here one actor of one CPU)."""
    write_documents(night(12), tmp_path / "resumes.parquet")
    (tmp_path / "model").symlink_to(tiny_model_dir)
    prepare_industry_resolver(tmp_path)  # the pipeline names ${EXTRACTOR_WORKDIR}/industry, as the demo fits it
    result = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "parquet_ray.yaml"), "--engine", "ray",
                                       "--set", f"schema={RULES}", "--set", "predict.max_span_len=12"],
                                env={"EXTRACTOR_WORKDIR": str(tmp_path)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["engine"], summary["status"], summary["n_processed"]) == ("ray", "succeeded", 12)
    assert pq.read_table(tmp_path / "parquet_ray" / "fields.parquet").num_rows == 12
    assert summary["report"]["n_docs"] == 12


def test_a_ray_run_writes_the_report_a_failed_run_owed(tmp_path, tiny_model_dir):
    """As the local runner does (test_report_recovery): a Ray run predicts the unchanged documents of a run
    that never wrote its report again, for the report only, and commits nothing new for them."""
    source = tmp_path / "input"
    write_input(source, night(12), bad=False)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the report directory should be", encoding="utf-8")
    failing = Engine("ray", tmp_path / "ray", source, tiny_model_dir, **{"report.directory": blocked})
    assert "rerun" in failing.run(expect=5)
    values = failing.query(VALUES)
    rerun = Engine("ray", tmp_path / "ray", source, tiny_model_dir)
    summary = rerun.run()
    assert (summary["n_processed"], summary["n_skipped"], summary["n_reported_again"]) == (0, 12, 12)
    assert summary["report"]["n_docs"] == 12
    assert rerun.query(VALUES) == values
    assert rerun.query("SELECT run_id, status, report_pending FROM extractor_runs") == \
        [(1, "failed", None), (2, "succeeded", None)]
