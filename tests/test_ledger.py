"""The ledger: every triage case against the pure decision function, and the batch commit's one
transaction on SQLite (all of a batch is written, or none of it)."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select

from extractor.nightly import database as db
from extractor.nightly.ledger import (
    Action,
    BatchCommitError,
    Candidate,
    Decision,
    LedgerRow,
    ProcessedDocument,
    Reason,
    RunIdentity,
    commit_batch,
    decide,
    read_ledger_rows,
    triage,
)
from extractor.nightly.records import Quarantined
from extractor.rules.fields import FieldValue

RUN = 7
CANDIDATE = Candidate(position=0, doc_id="cv-1", content_hash="h1", preview="本科")
CURRENT = dict(content_hash="h1", model_version="m2", rules_version="r2", seen_run_id=RUN - 1)


def row(**changes) -> LedgerRow:
    return LedgerRow("cv-1", **dict(CURRENT, **changes))


# (case, ledger row of cv-1 or None, full_refresh, doc_ids earlier in this batch, pending doc_ids, decision)
CASES = [
    ("never processed", None, False, set(), set(), (Action.PROCESS, Reason.NEW)),
    ("unchanged", row(), False, set(), set(), (Action.SKIP, Reason.UNCHANGED)),
    ("content changed", row(content_hash="h0"), False, set(), set(), (Action.PROCESS, Reason.CONTENT_CHANGED)),
    ("model changed", row(model_version="m1"), False, set(), set(), (Action.PROCESS, Reason.MODEL_CHANGED)),
    ("rules changed", row(rules_version="r1"), False, set(), set(), (Action.PROCESS, Reason.RULES_CHANGED)),
    ("full refresh, unchanged", row(), True, set(), set(), (Action.PROCESS, Reason.FULL_REFRESH)),
    ("full refresh, never processed", None, True, set(), set(), (Action.PROCESS, Reason.FULL_REFRESH)),
    ("earlier in this batch", None, False, {"cv-1"}, set(), (Action.DUPLICATE, Reason.DUPLICATE_IN_BATCH)),
    ("earlier in this batch, unchanged", row(), False, {"cv-1"}, set(),
     (Action.DUPLICATE, Reason.DUPLICATE_IN_BATCH)),
    ("in a batch of this run already committed", row(seen_run_id=RUN), False, set(), set(),
     (Action.DUPLICATE, Reason.DUPLICATE_COMMITTED)),
    ("committed in this run, full refresh", row(seen_run_id=RUN), True, set(), set(),
     (Action.DUPLICATE, Reason.DUPLICATE_COMMITTED)),
    ("accepted in this run, not committed yet", None, False, set(), {"cv-1"},
     (Action.DUPLICATE, Reason.DUPLICATE_PENDING)),
    ("accepted, not committed, full refresh", row(), True, set(), {"cv-1"},
     (Action.DUPLICATE, Reason.DUPLICATE_PENDING)),
    ("other doc_ids pending or earlier", row(), False, {"cv-2"}, {"cv-3"}, (Action.SKIP, Reason.UNCHANGED)),
]


@pytest.mark.parametrize("ledger_row, full_refresh, earlier_in_batch, pending, expected",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_decide(ledger_row, full_refresh, earlier_in_batch, pending, expected):
    run = RunIdentity(RUN, "m2", "r2", full_refresh)
    assert decide(CANDIDATE, ledger_row, run, earlier_in_batch, pending) == Decision(*expected)


def test_triage_keeps_the_first_sighting_and_source_order():
    run = RunIdentity(RUN, "m2", "r2")
    bad = Quarantined(1, None, "missing_id", "doc_id is null or empty")
    items = [Candidate(0, "cv-1", "h1", "a"), bad, Candidate(2, "cv-1", "h9", "b"), Candidate(3, "cv-2", "h2", "c"),
             Candidate(4, "cv-3", "h3", "d"), Candidate(5, "cv-4", "h4", "e")]
    rows = {"cv-1": row(), "cv-3": LedgerRow("cv-3", "h3", "m2", "r2", RUN), "cv-4": LedgerRow("cv-4", "h0", "m2",
                                                                                                "r2", 1)}
    result = triage(items, rows, run, pending={"cv-2"})
    assert [c.doc_id for c in result.todo] == ["cv-4"]
    assert result.skipped == ["cv-1"]
    assert [(q.position, q.doc_id, q.reason, q.preview) for q in result.quarantined] == [
        (1, None, "missing_id", None), (2, "cv-1", "duplicate_id", "b"), (3, "cv-2", "duplicate_id", "c"),
        (4, "cv-3", "duplicate_id", "d")]


def test_unchanged_documents_of_a_run_that_owes_its_report_are_predicted_again_for_it():
    run = RunIdentity(RUN, "m2", "r2", unreported_runs=frozenset({3}))
    items = [Candidate(0, "cv-1", "h1", "a"), Candidate(1, "cv-2", "h2", "b"), Candidate(2, "cv-3", "h0", "c")]
    rows = {"cv-1": row(run_id=3), "cv-2": LedgerRow("cv-2", "h2", "m2", "r2", RUN - 1, 4),
            "cv-3": LedgerRow("cv-3", "h3", "m2", "r2", RUN - 1, 3)}
    result = triage(items, rows, run)
    assert result.skipped == ["cv-1", "cv-2"]  # still skipped: their committed values stand
    assert [c.doc_id for c in result.report_again] == ["cv-1"]  # cv-2's run wrote its report
    assert [c.doc_id for c in result.todo] == ["cv-3"]  # changed: processed, and reported as such
    assert triage(items, rows, RunIdentity(RUN, "m2", "r2")).report_again == []


# ---------------------------------------------------------------- the batch commit

@pytest.fixture
def engine(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    db.ensure_schema(engine)
    with engine.begin() as conn:
        for run_id in (1, 2):
            conn.execute(insert(db.runs).values(run_id=run_id, pipeline="p", model_version="m", rules_version="r",
                                                started_at=datetime.now(timezone.utc), status="running"))
    return engine


def degree(value: str) -> dict:
    return {"education": [FieldValue("education", value, value, 0, len(value), 0.9, "map")]}


def written(engine) -> dict:
    with engine.connect() as conn:
        return {
            "values": conn.execute(select(db.field_values.c.doc_id, db.field_values.c.value, db.field_values.c.run_id)
                                   .order_by(db.field_values.c.doc_id)).all(),
            "ledger": conn.execute(select(db.processed_documents.c.doc_id, db.processed_documents.c.run_id,
                                          db.processed_documents.c.seen_run_id)
                                   .order_by(db.processed_documents.c.doc_id)).all(),
            "quarantine": conn.execute(select(db.quarantine.c.run_id, db.quarantine.c.doc_id,
                                              db.quarantine.c.reason)).all(),
            "counts": conn.execute(select(db.runs.c.run_id, db.runs.c.n_read, db.runs.c.n_processed,
                                          db.runs.c.n_skipped, db.runs.c.n_quarantined, db.runs.c.n_windows)
                                   .order_by(db.runs.c.run_id)).all(),
        }


def test_a_batch_commits_values_ledger_quarantine_and_counts_together(engine):
    first = RunIdentity(1, "m", "r")
    outcome = commit_batch(engine, first, [ProcessedDocument("a", "ha", degree("本科"), None, 2),
                                           ProcessedDocument("b", "hb", {}, "2026-01-01", 1)],
                           quarantined=[Quarantined(2, "a", "duplicate_id", "again")], n_read=3)
    assert (outcome.n_read, outcome.n_processed, outcome.n_skipped, outcome.n_quarantined, outcome.n_windows) == \
        (3, 2, 0, 1, 3)
    second = RunIdentity(2, "m", "r")
    commit_batch(engine, second, [ProcessedDocument("b", "hb2", degree("硕士"), None, 1)], skipped=["a"], n_read=2)
    assert written(engine) == {
        "values": [("a", "本科", 1), ("b", "硕士", 2)],
        "ledger": [("a", 1, 2), ("b", 2, 2)],  # a: skipped in run 2, so seen by it
        "quarantine": [(1, "a", "duplicate_id")],
        "counts": [(1, 3, 2, 0, 1, 3), (2, 2, 1, 1, 0, 1)],
    }
    assert read_ledger_rows(engine, ["a", "b", "nowhere"]) == {
        "a": LedgerRow("a", "ha", "m", "r", 2, 1), "b": LedgerRow("b", "hb2", "m", "r", 2, 2)}


def test_a_document_reprocessed_without_a_field_keeps_no_stale_value(engine):
    commit_batch(engine, RunIdentity(1, "m", "r"), [ProcessedDocument("a", "ha", degree("本科"), None, 1)], n_read=1)
    commit_batch(engine, RunIdentity(2, "m", "r"), [ProcessedDocument("a", "ha2", {}, None, 1)], n_read=1)
    assert written(engine)["values"] == []


def test_a_failing_insert_rolls_the_whole_batch_back(engine):
    commit_batch(engine, RunIdentity(1, "m", "r"), [ProcessedDocument("a", "ha", degree("本科"), None, 1),
                                                    ProcessedDocument("c", "hc", degree("大专"), None, 1)], n_read=2)
    before = written(engine)
    unreasoned = Quarantined(5, "x", None, "no reason")  # the quarantine table requires a reason: the insert fails
    assert before["ledger"] == [("a", 1, 1), ("c", 1, 1)] and len(before["values"]) == 2
    with pytest.raises(BatchCommitError) as refused:  # a database error naming the batch, in one line
        commit_batch(engine, RunIdentity(2, "m", "r"), [ProcessedDocument("b", "hb", degree("硕士"), None, 1),
                                                        ProcessedDocument("a", "ha2", degree("博士"), None, 1)],
                     skipped=["c"], quarantined=[unreasoned], n_read=4)
    assert isinstance(refused.value.__cause__, sa_exc.IntegrityError) and "\n" not in str(refused.value)
    assert "doc_id 'b'" in str(refused.value) and "NOT NULL constraint failed" in str(refused.value)
    assert written(engine) == before
