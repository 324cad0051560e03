"""Runs of a pipeline never overlap: the lease (extractor/nightly/lease.py), on SQLite and PostgreSQL.
Two runs started together: one processes, the other waits or exits 6; a live run is never marked
interrupted; a stale lease is taken over; two first-use migrations at once both succeed."""
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ROOT, fresh_postgres_database
from sqlalchemy import create_engine, insert, select

from extractor.data.documents import Document, write_documents
from extractor.data.sample import generate_documents
from extractor.nightly import database as db
from extractor.nightly.config import PipelineError, parse_pipeline
from extractor.nightly.lease import LeaseConfig, LeaseHeld, LeaseLost, PipelineLease, parse_lease

PG_URL = os.environ.get("EXTRACTOR_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="no PostgreSQL server: set EXTRACTOR_TEST_POSTGRES_URL"))]
N_DOCS = 24


@pytest.fixture
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with fresh_postgres_database("extractor_l") as url:
        yield url


def migrated(url):
    engine = db.make_engine(url)
    db.ensure_schema(engine)
    return engine


def run_args(workdir, model, url, **overrides):
    settings = {"model": str(model), "schema": str(ROOT / "schemas" / "resume_nightly.yaml"), "database": url,
                "docs_per_commit": "4", "predict.max_span_len": "12", "predict.runtime": "torch", "industry": "none",
                **overrides}
    return [sys.executable, "-c", "from extractor.cli import main; main()", "run", str(ROOT / "pipelines" / "parquet.yaml"),
            *[x for k, v in settings.items() for x in ("--set", f"{k}={v}")]]


@pytest.fixture
def workdir(tmp_path):
    docs = [Document(f"cv-{i:03d}", d.text, d.entities) for i, d in enumerate(generate_documents(N_DOCS, seed=5))]
    write_documents(docs, tmp_path / "resumes.parquet")
    return tmp_path


def start_run(workdir, model, url, **overrides):
    env = dict(os.environ, EXTRACTOR_WORKDIR=str(workdir), PYTHONPATH=str(ROOT))
    return subprocess.Popen(run_args(workdir, model, url, **overrides), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def statuses(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(db.runs.c.status).order_by(db.runs.c.run_id))]


def add_running_run(engine, pipeline="parquet"):
    with engine.begin() as conn:
        return conn.execute(insert(db.runs).values(
            pipeline=pipeline, model_version="m", rules_version="r", started_at=datetime.now(timezone.utc),
            status="running", full_refresh=0).returning(db.runs.c.run_id)).scalar_one()


# ---------------------------------------------------------------- the lease itself

@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_held_lease_refuses_a_second_holder_naming_the_first(database_url):
    engine = migrated(database_url)
    first = PipelineLease(engine, "p", LeaseConfig(wait_seconds=0, stale_seconds=60))
    first.acquire()
    try:
        with pytest.raises(LeaseHeld, match=f"another run of pipeline 'p' holds the lease: {first.token.owner}") as e:
            PipelineLease(engine, "p", LeaseConfig(wait_seconds=0.3)).acquire()
        assert e.value.exit_code == 6
        PipelineLease(engine, "other pipeline").acquire()  # leases are per pipeline
    finally:
        first.release()
    second = PipelineLease(engine, "p")
    second.acquire()
    second.release()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_waiting_run_gets_the_lease_when_it_is_released(database_url):
    engine = migrated(database_url)
    first = PipelineLease(engine, "p", LeaseConfig(stale_seconds=60))
    first.acquire()
    threading.Timer(0.5, first.release).start()
    started = time.monotonic()
    PipelineLease(engine, "p", LeaseConfig(wait_seconds=30)).acquire()
    assert 0.4 < time.monotonic() - started < 10


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_the_heartbeat_keeps_a_lease_alive_and_a_silent_one_is_taken_over(database_url):
    engine = migrated(database_url)
    holder = PipelineLease(engine, "p", LeaseConfig(stale_seconds=0.5))
    holder.acquire()
    time.sleep(1.2)  # longer than stale_seconds: only the background heartbeat keeps it
    with pytest.raises(LeaseHeld):
        PipelineLease(engine, "p", LeaseConfig(stale_seconds=0.5)).acquire()
    holder._stop.set()  # the holder hangs: no more heartbeats
    holder._thread.join()
    time.sleep(0.7)
    taker = PipelineLease(engine, "p", LeaseConfig(stale_seconds=0.5))
    taker.acquire()
    assert taker.taken_over["owner"] == holder.token.owner
    with pytest.raises(LeaseLost):  # the old holder's next commit fails instead of writing
        holder.heartbeat()
    holder.release()  # releases nothing: the lease is not its own any more
    with pytest.raises(LeaseHeld):
        PipelineLease(engine, "p").acquire()
    taker.release()


def test_the_lease_section_of_a_pipeline_is_parsed_and_checked():
    raw = {"source": {"type": "parquet", "path": "x.parquet"}, "model": "m", "database": "sqlite://"}
    assert parse_pipeline(raw, "p.yaml").lease == LeaseConfig(0.0, 300.0)
    assert parse_pipeline(dict(raw, lease={"wait_seconds": "60"}), "p.yaml").lease == LeaseConfig(60.0, 300.0)
    for bad in ({"wait_seconds": -1}, {"stale_seconds": 0}, {"wait": 1}, "soon"):
        with pytest.raises(PipelineError, match="lease"):
            parse_lease(bad, "p.yaml")


# ---------------------------------------------------------------- runs

@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("wait_seconds", [0, 300])
def test_two_runs_started_together_process_each_document_once(workdir, tiny_model_dir, database_url, wait_seconds):
    migrated(database_url)
    procs = [start_run(workdir, tiny_model_dir, database_url, **{"lease.wait_seconds": wait_seconds})
             for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, 6]), [err[-2000:] for _, _, err in results]
    if wait_seconds:
        assert codes == [0, 0]
    summaries = [json.loads(out.strip().splitlines()[-1]) for rc, out, _ in results if rc == 0]
    assert sum(s["n_processed"] for s in summaries) == N_DOCS
    for rc, _, err in results:
        if rc == 6:
            assert "another run of pipeline 'parquet' holds the lease" in err
    assert set(statuses(database_url)) == {"succeeded"}  # none interrupted, none failed


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_live_run_is_never_marked_interrupted(workdir, tiny_model_dir, database_url):
    engine = migrated(database_url)
    live = PipelineLease(engine, "parquet", LeaseConfig(stale_seconds=60))
    live.acquire()
    run_id = add_running_run(engine)
    try:
        proc = start_run(workdir, tiny_model_dir, database_url)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 6, err[-2000:]
        assert f"error: another run of pipeline 'parquet' holds the lease: {live.token.owner}" in err
        assert statuses(database_url) == ["running"], run_id
    finally:
        live.release()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_stale_lease_is_taken_over_and_its_run_marked_interrupted(workdir, tiny_model_dir, database_url):
    engine = migrated(database_url)
    run_id = add_running_run(engine)
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(insert(db.leases).values(pipeline="parquet", owner="elsewhere:4242:dead", run_id=run_id,
                                              acquired_at=an_hour_ago, heartbeat_at=an_hour_ago))
    proc = start_run(workdir, tiny_model_dir, database_url)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "took over the lease of elsewhere:4242:dead" in err
    assert statuses(database_url) == ["interrupted", "succeeded"]
    with engine.connect() as conn:
        assert conn.execute(select(db.leases)).first() is None  # released at the end


# ---------------------------------------------------------------- first use

ENSURE_SCHEMA = "import sys; from extractor.nightly import database as db; db.ensure_schema(db.make_engine(sys.argv[1]))"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_two_first_use_migrations_at_once_both_succeed(database_url, tmp_path):
    urls = [database_url] if database_url.startswith("postgresql") else \
        [f"sqlite:///{tmp_path / f'fresh-{i}.db'}" for i in range(3)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for url in urls:
        procs = [subprocess.Popen([sys.executable, "-c", ENSURE_SCHEMA, url], env=env, cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for e in errors]
        assert db.current(url) == db.head()
