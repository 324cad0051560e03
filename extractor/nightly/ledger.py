"""The ledger of processed documents: which records of a batch are processed, skipped or quarantined as
duplicates, and the one transaction that commits a batch.

Every engine keeps the ledger through this module alone, so a run is incremental, and a killed run
resumable, the same way whichever engine reads and predicts: a batch's field values commit together with
the ledger rows that say which content, model and rules they came from, so the rerun skips exactly what
was committed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import AbstractSet, Any, Mapping, Optional, Sequence

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from extractor.data.documents import Document
from extractor.nightly import database as db
from extractor.nightly.lease import LeaseToken, renew
from extractor.nightly.records import Quarantined, preview
from extractor.rules.fields import FieldValue

log = logging.getLogger(__name__)

DUPLICATE = "doc_id already read earlier in this run; the first one was kept"


@dataclass(frozen=True)
class RunIdentity:
    """The run as the ledger sees it: what a ledger row is compared with, and what it is stamped with."""

    run_id: int
    model_version: str
    rules_version: str
    full_refresh: bool = False
    # The run's hold on its pipeline's lease: every batch commit renews it, and commits nothing once lost.
    lease: Optional[LeaseToken] = None
    # Earlier runs of the pipeline that ended (killed, failed) before writing the report they owed.
    unreported_runs: frozenset[int] = frozenset()


@dataclass
class Candidate:
    """A record that passed the checks, as the incremental logic sees it."""

    position: int
    doc_id: str
    content_hash: str
    preview: Optional[str]  # for the quarantine row, should it turn out to be a duplicate
    updated_at: Any = None
    doc: Optional[Document] = None  # the document itself where the engine has it (the local runner)


@dataclass(frozen=True)
class LedgerRow:
    """What the ledger knows of one doc_id: the content, model and rules it was last processed with."""

    doc_id: str
    content_hash: str
    model_version: str
    rules_version: str
    seen_run_id: int  # the last run that read this doc_id
    run_id: int = 0  # the run that processed it


# ---------------------------------------------------------------- the decision

class Action(str, Enum):
    PROCESS = "process"
    SKIP = "skip"
    DUPLICATE = "duplicate"


class Reason(str, Enum):
    FULL_REFRESH = "full_refresh"
    NEW = "new"
    CONTENT_CHANGED = "content_changed"
    MODEL_CHANGED = "model_changed"
    RULES_CHANGED = "rules_changed"
    UNCHANGED = "unchanged"
    DUPLICATE_IN_BATCH = "duplicate_in_batch"
    DUPLICATE_PENDING = "duplicate_pending"  # accepted earlier in this run, not committed yet (Ray)
    DUPLICATE_COMMITTED = "duplicate_committed"  # in a batch of this run already committed


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason


def seen_earlier_in_batch(candidate: Candidate, earlier_in_batch: AbstractSet[str]) -> bool:
    return candidate.doc_id in earlier_in_batch


def accepted_but_not_committed(candidate: Candidate, pending: AbstractSet[str]) -> bool:
    return candidate.doc_id in pending


def committed_earlier_in_run(row: Optional[LedgerRow], run: RunIdentity) -> bool:
    return row is not None and row.seen_run_id == run.run_id


def should_full_refresh(run: RunIdentity) -> bool:
    return run.full_refresh


def is_new(row: Optional[LedgerRow]) -> bool:
    return row is None


def content_changed(candidate: Candidate, row: LedgerRow) -> bool:
    return row.content_hash != candidate.content_hash


def model_changed(row: LedgerRow, run: RunIdentity) -> bool:
    return row.model_version != run.model_version


def rules_changed(row: LedgerRow, run: RunIdentity) -> bool:
    return row.rules_version != run.rules_version


def processed_by_unreported_run(row: Optional[LedgerRow], run: RunIdentity) -> bool:
    return row is not None and row.run_id in run.unreported_runs


def decide(candidate: Candidate, row: Optional[LedgerRow], run: RunIdentity,
           earlier_in_batch: AbstractSet[str] = frozenset(), pending: AbstractSet[str] = frozenset()) -> Decision:
    """What to do with one checked record, given its ledger row (None: never processed). The first
    sighting of a doc_id in a run wins, so the duplicate checks come before everything else, a full
    refresh included."""
    if seen_earlier_in_batch(candidate, earlier_in_batch):
        return Decision(Action.DUPLICATE, Reason.DUPLICATE_IN_BATCH)
    if accepted_but_not_committed(candidate, pending):
        return Decision(Action.DUPLICATE, Reason.DUPLICATE_PENDING)
    if committed_earlier_in_run(row, run):
        return Decision(Action.DUPLICATE, Reason.DUPLICATE_COMMITTED)
    if should_full_refresh(run):
        return Decision(Action.PROCESS, Reason.FULL_REFRESH)
    if is_new(row):
        return Decision(Action.PROCESS, Reason.NEW)
    assert row is not None
    if content_changed(candidate, row):
        return Decision(Action.PROCESS, Reason.CONTENT_CHANGED)
    if model_changed(row, run):
        return Decision(Action.PROCESS, Reason.MODEL_CHANGED)
    if rules_changed(row, run):
        return Decision(Action.PROCESS, Reason.RULES_CHANGED)
    return Decision(Action.SKIP, Reason.UNCHANGED)


@dataclass
class Triage:
    todo: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    # Skipped documents to predict again for the report only: their run never wrote the report it owed.
    report_again: list[Candidate] = field(default_factory=list)


def triage(items: Sequence[Candidate | Quarantined], rows: Mapping[str, LedgerRow], run: RunIdentity,
           pending: AbstractSet[str] = frozenset()) -> Triage:
    """Split one batch of checked records, in source order, into documents to process, documents
    unchanged since they were processed (skipped), and quarantined records (the check failures and the
    duplicates), each list in source order; skipped documents that a run which never wrote its report
    processed are also in ``report_again``. ``rows``: the ledger rows of the batch's doc_ids."""
    result = Triage()
    in_batch: set[str] = set()
    for item in items:
        if isinstance(item, Quarantined):
            result.quarantined.append(item)
            continue
        decision = decide(item, rows.get(item.doc_id), run, in_batch, pending)
        in_batch.add(item.doc_id)
        if decision.action is Action.DUPLICATE:
            result.quarantined.append(_duplicate(item))
        elif decision.action is Action.SKIP:
            result.skipped.append(item.doc_id)
            if processed_by_unreported_run(rows.get(item.doc_id), run):
                result.report_again.append(item)
        else:
            result.todo.append(item)
    return result


def _duplicate(c: Candidate) -> Quarantined:
    text_preview = c.preview if c.preview is not None or c.doc is None else preview(c.doc.text)
    return Quarantined(c.position, c.doc_id, "duplicate_id", DUPLICATE, text_preview)


# ---------------------------------------------------------------- reading the ledger

def read_ledger_rows(engine: Engine, doc_ids: Sequence[str]) -> dict[str, LedgerRow]:
    """The ledger rows of ``doc_ids`` (those it has), by doc_id."""
    if not doc_ids:
        return {}
    pd = db.processed_documents
    stmt = (select(pd.c.doc_id, pd.c.content_hash, pd.c.model_version, pd.c.rules_version, pd.c.seen_run_id,
                   pd.c.run_id)
            .where(pd.c.doc_id.in_(sorted(set(doc_ids)))))
    with engine.connect() as conn:
        return {row.doc_id: LedgerRow(*row) for row in conn.execute(stmt)}


def triage_batch(engine: Engine, items: Sequence[Candidate | Quarantined], run: RunIdentity,
                 pending: AbstractSet[str] = frozenset()) -> Triage:
    """``triage`` against the ledger as it is in the database now."""
    doc_ids = [item.doc_id for item in items if isinstance(item, Candidate)]
    return triage(items, read_ledger_rows(engine, doc_ids), run, pending)


# ---------------------------------------------------------------- the batch commit

@dataclass(frozen=True)
class ProcessedDocument:
    """One predicted document, as committed: its chosen values per field and where they came from."""

    doc_id: str
    content_hash: str
    fields: Mapping[str, Sequence[FieldValue]]
    updated_at: Any = None  # the source's, stored as text
    n_windows: int = 0


@dataclass(frozen=True)
class BatchOutcome:
    """What one committed batch adds to the run's counts."""

    n_read: int
    n_processed: int
    skipped: Sequence[str]
    quarantined: Sequence[Quarantined]
    n_windows: int

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantined)


def commit_batch(engine: Engine, run: RunIdentity, processed: Sequence[ProcessedDocument],
                 skipped: Sequence[str] = (), quarantined: Sequence[Quarantined] = (), *,
                 n_read: int) -> BatchOutcome:
    """Commit one batch: field values, ledger rows, skipped documents marked seen, quarantine rows and the
    run's counts, together or not at all. ``n_read``: the records of the batch read from the source
    (0 where they were counted when planned)."""
    outcome = BatchOutcome(n_read, len(processed), list(skipped), list(quarantined),
                           sum(p.n_windows for p in processed))
    try:
        with engine.begin() as conn:  # the one transaction: a run killed now loses this batch, nothing else
            if run.lease is not None:
                renew(conn, run.lease)
            _replace_results(conn, run, processed)
            _mark_seen(conn, run, outcome.skipped)
            _insert_quarantine(conn, run, outcome.quarantined)
            _add_counts(conn, run, outcome)
    except (sa_exc.IntegrityError, sa_exc.DataError) as exc:  # e.g. a value too long for its column
        raise BatchCommitError(_first_doc_id(processed, skipped, quarantined), exc) from exc
    return outcome


class BatchCommitError(db.DatabaseError):
    """The database refused a batch (a constraint, a value that does not fit its column): names the
    batch by its first document and the database's own first line."""

    def __init__(self, first_doc_id: Optional[str], cause: sa_exc.DBAPIError):
        self.first_doc_id = first_doc_id
        text = str(cause.orig or cause).strip()
        reason = text.splitlines()[0] if text else type(cause).__name__
        super().__init__(f"the database refused the batch starting at doc_id {first_doc_id!r}: "
                         f"{type(cause).__name__}: {reason}")


def _first_doc_id(processed: Sequence[ProcessedDocument], skipped: Sequence[str],
                  quarantined: Sequence[Quarantined]) -> Optional[str]:
    first = [p.doc_id for p in processed[:1]] + list(skipped[:1]) + [q.doc_id for q in quarantined[:1]]
    return first[0] if first else None


def _replace_results(conn: Connection, run: RunIdentity, processed: Sequence[ProcessedDocument]) -> None:
    if not processed:
        return
    ids = [p.doc_id for p in processed]
    value_rows = [
        {"doc_id": p.doc_id, "field": name, "ordinal": i, "value": v.value, "code": v.code, "raw": v.raw,
         "start": v.start, "end": v.end, "score": None if v.score is None else float(v.score), "rule": v.rule,
         "confidence": None if v.confidence is None else float(v.confidence),
         "model_version": run.model_version, "rules_version": run.rules_version, "run_id": run.run_id}
        for p in processed for name, values in p.fields.items() for i, v in enumerate(values)
    ]
    ledger_rows = [
        {"doc_id": p.doc_id, "content_hash": p.content_hash, "model_version": run.model_version,
         "rules_version": run.rules_version, "run_id": run.run_id, "seen_run_id": run.run_id,
         "updated_at": None if p.updated_at is None else str(p.updated_at)}
        for p in processed
    ]
    pd, fv = db.processed_documents, db.field_values
    # Replace, don't add: a value that disappeared leaves no stale row behind.
    conn.execute(delete(fv).where(and_(fv.c.model_version == run.model_version, fv.c.doc_id.in_(ids))))
    if value_rows:
        conn.execute(insert(fv), value_rows)
    conn.execute(delete(pd).where(pd.c.doc_id.in_(ids)))
    conn.execute(insert(pd), ledger_rows)


def _mark_seen(conn: Connection, run: RunIdentity, skipped: Sequence[str]) -> None:
    # A second sighting later in this run is then found a duplicate, as for a processed document.
    if skipped:
        pd = db.processed_documents
        conn.execute(update(pd).where(pd.c.doc_id.in_(list(skipped))).values(seen_run_id=run.run_id))


def _insert_quarantine(conn: Connection, run: RunIdentity, quarantined: Sequence[Quarantined]) -> None:
    if quarantined:
        now = datetime.now(timezone.utc)
        conn.execute(insert(db.quarantine), [
            {"run_id": run.run_id, "doc_id": q.doc_id, "position": q.position, "reason": q.reason,
             "detail": q.detail, "text_preview": q.preview, "quarantined_at": now} for q in quarantined])


def _add_counts(conn: Connection, run: RunIdentity, outcome: BatchOutcome) -> None:
    r = db.runs.c
    conn.execute(update(db.runs).where(r.run_id == run.run_id).values(
        n_read=r.n_read + outcome.n_read, n_processed=r.n_processed + outcome.n_processed,
        n_skipped=r.n_skipped + outcome.n_skipped, n_quarantined=r.n_quarantined + outcome.n_quarantined,
        n_windows=r.n_windows + outcome.n_windows))
