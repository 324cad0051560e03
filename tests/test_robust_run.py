"""End to end: bad records of every kind, mixed with good ones in one batch, cost only themselves: the
run finishes, each bad record is quarantined with a reason, each good one is processed once."""
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from test_nightly import BACKENDS, nightly_docs, pg_database, setup_for, tiny_model  # noqa: F401 (fixtures)

from extractor.nightly import database as db

INVALID_UTF8 = "CAST(X'C328E69CACE7A791' AS TEXT)"  # 0xC3 0x28 is no UTF-8 sequence
COLUMNS = {"source.table": "cv", "source.columns.gold_entities": "gold", "source.columns.updated_at": "changed",
           "predict.runtime": "torch"}


def write_cv_table(path, good, bad=(), raw_sql_rows=()):
    """An untyped SQLite table ``cv`` (doc_id, text, changed, gold): it holds whatever a real dump holds."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE cv (doc_id, text, changed, gold)"))
        rows = [{"i": d.doc_id, "t": d.text, "u": "2026-11-24", "g": json.dumps([e.to_dict() for e in d.entities])}
                for d in good] + [dict(zip("itug", r)) for r in bad]
        conn.execute(text("INSERT INTO cv VALUES (:i, :t, :u, :g)"), rows)
        for row in raw_sql_rows:
            conn.execute(text(f"INSERT INTO cv VALUES ({row})"))
    engine.dispose()


def quarantine_rows(s, run_id):
    with s.engine().connect() as conn:
        q = db.quarantine.c
        return conn.execute(select(q.doc_id, q.reason, q.detail).where(q.run_id == run_id)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_utf8_in_a_sqlite_text_column_quarantines_that_record_only(setup_for, backend, tmp_path):
    s = setup_for("nightly", backend)
    good = nightly_docs(4)
    write_cv_table(tmp_path / "cv.db", good, raw_sql_rows=[f"'bad-text', {INVALID_UTF8}, 'x', '[]'",
                                                           f"{INVALID_UTF8}, '本科', 'x', '[]'"])
    out = s.run(**COLUMNS, **{"source.url": f"sqlite:///{tmp_path / 'cv.db'}"})
    assert (out["status"], out["n_read"], out["n_processed"], out["n_quarantined"]) == ("succeeded", 6, 4, 2)
    assert {r[:2] for r in quarantine_rows(s, out["run_id"])} == {("bad-text", "undecodable"), (None, "undecodable")}


STORABLE = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)  # sqlite3 cannot bind surrogates
BAD_RECORDS = st.one_of(
    st.tuples(st.text(min_size=256, max_size=300), st.just("本科"), st.none(), st.none()),  # id too long
    st.tuples(STORABLE.map(lambda t: "id\x00" + t), st.just("本科"), st.none(), st.none()),  # NUL in the id
    st.tuples(st.uuids().map(str), STORABLE.map(lambda t: "本科\x00" + t), st.none(), st.none()),  # NUL in text
    st.tuples(st.uuids().map(str), st.just("本科"), st.text(min_size=65, max_size=90), st.none()),  # updated_at
    st.tuples(st.uuids().map(str), st.just("本科学历"), st.none(),
              st.sampled_from(['[{"start": 1e999, "end": 2, "label": "EDU"}]', "[" * 5000 + "]" * 5000,
                               '[{"start": 0, "end": 2, "label": null}]', '[{"start": 0, "end": 2, "label": "X"}]',
                               "{not json"])),
)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(bad=st.lists(BAD_RECORDS, min_size=1, max_size=5))
def test_generated_bad_records_mixed_with_good_ones(setup_for, backend, tmp_path, bad):
    s = setup_for("nightly", backend)
    run_dir = tmp_path / uuid.uuid4().hex  # one source per example; the results database is shared
    run_dir.mkdir()
    prefix = uuid.uuid4().hex[:8]
    good = [d.__class__(f"{prefix}-{d.doc_id}", d.text, d.entities) for d in nightly_docs(3)]
    bad = [(f"{prefix}{i}-{doc_id}", *rest) if len(doc_id) < 200 and "\x00" not in doc_id else (doc_id, *rest)
           for i, (doc_id, *rest) in enumerate(bad)]
    write_cv_table(run_dir / "cv.db", good, bad)
    out = s.run(**COLUMNS, **{"source.url": f"sqlite:///{run_dir / 'cv.db'}", "docs_per_commit": "50"})
    assert (out["status"], out["n_read"]) == ("succeeded", len(good) + len(bad))
    assert (out["n_processed"], out["n_quarantined"]) == (len(good), len(bad))
    rows = quarantine_rows(s, out["run_id"])
    assert len(rows) == len(bad) and all(reason and detail for _, reason, detail in rows)
    with s.engine().connect() as conn:
        pd = db.processed_documents.c
        done = conn.execute(select(pd.doc_id).where(pd.run_id == out["run_id"])).scalars().all()
    assert sorted(done) == sorted(d.doc_id for d in good)
