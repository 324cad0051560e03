"""The nightly batch run: source -> checks -> documents -> windows -> model -> spans -> rules
-> field values -> database (one transaction per batch) -> file sinks and report.

``PipelineRun`` is a run's lifecycle, the same whichever engine reads and predicts: the run row
(started, finished, or found interrupted by the next run), the sinks and the report. ``Runner`` is the
local engine; ``ray_engine.RayRunner`` the other one. Both keep the ledger with ``ledger``.

Safe to rerun: every batch commits its field values together with the ledger rows
that say which documents (content hash, model version, rules version) they came
from, so a run killed at any point loses at most the batch in flight, and the
rerun skips exactly what was committed.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Iterator, Optional

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine

from extractor.model.directory import LoadedModel
from extractor.model.export import prepare_runtime
from extractor.model.predict import prediction_version
from extractor.nightly import database as db
from extractor.nightly.config import PipelineConfig, PipelineError
from extractor.nightly.failures import RunFailedAfterCommit
from extractor.nightly.field_predictor import FieldPredictor, RulesError, field_predictor_settings
from extractor.nightly.lease import PipelineLease
from extractor.nightly.ledger import (
    BatchOutcome,
    Candidate,
    ProcessedDocument,
    RunIdentity,
    commit_batch,
    triage_batch,
)
from extractor.nightly.records import Quarantined, check_record, content_hash
from extractor.nightly.reports import ReportCollector, remove_report_temporaries
from extractor.nightly.run_report import evaluate_pipeline, report_headline, write_pipeline_report
from extractor.nightly.safe_files import writing
from extractor.nightly.sinks import export_sinks
from extractor.nightly.sources import SourceRecord, open_source
from extractor.rules.schema import Schema

# evaluate_pipeline lives in run_report; the command line still imports it from here.
__all__ = ["PipelineRun", "RunSummary", "Runner", "evaluate_pipeline", "run_pipeline"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: int
    pipeline: str
    model_version: str
    rules_version: str
    status: str = "running"
    n_read: int = 0
    n_processed: int = 0
    n_skipped: int = 0
    n_quarantined: int = 0
    n_windows: int = 0
    n_reported_again: int = 0  # unchanged documents of runs that never wrote their report, in this one's
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    report: Optional[dict] = None  # headline figures of the run's accuracy report, when the source had gold
    regressions: list[dict] = field(default_factory=list)
    engine: str = "local"  # local | ray: what read and predicted (everything else is the same code)

    def to_dict(self) -> dict:
        return asdict(self)

    def committed_any(self) -> bool:
        """Whether a committed batch holds a document's outcome (processed, skipped or quarantined); the
        Ray engine's count of records read alone is no document written."""
        return bool(self.n_processed or self.n_skipped or self.n_quarantined)

    def add(self, outcome: BatchOutcome) -> None:
        """Count a committed batch in, and log its quarantined records (one warning each, for the night's log)."""
        self.n_read += outcome.n_read
        self.n_processed += outcome.n_processed
        self.n_skipped += outcome.n_skipped
        self.n_quarantined += outcome.n_quarantined
        self.n_windows += outcome.n_windows
        for q in outcome.quarantined:
            self.quarantine_reasons[q.reason] = self.quarantine_reasons.get(q.reason, 0) + 1
            log.warning("quarantined record %d (doc_id %r): %s: %s", q.position, q.doc_id, q.reason, q.detail)
        log.debug("batch: %d read, %d processed, %d skipped, %d quarantined", outcome.n_read, outcome.n_processed,
                  outcome.n_skipped, outcome.n_quarantined)


# ---------------------------------------------------------------- the run

class PipelineRun:
    """One run of a pipeline, whichever engine it runs on. An engine supplies ``_open_source`` and
    ``_process`` (read, check, triage, predict and commit every batch, with ``ledger``); ``RayRunner``
    also ``_load``, as its actors predict."""

    engine_name: str  # what reads and predicts, in the run summary and the log

    def __init__(self, cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                 progress: bool = False):
        self.cfg, self.full_refresh, self.limit, self.progress = cfg, full_refresh, limit, progress
        self.loaded, self.schema = self._load()
        # The weights and the value-changing predict options: the version the ledger, field values and sinks use.
        self.model_version = prediction_version(self.loaded, cfg.predict)
        self.unreported_runs: frozenset[int] = frozenset()  # found when the run starts
        self.rules_version = self.schema.rules_version
        self.source = self._open_source()  # fails now (missing file/column) rather than mid-run
        self.engine: Engine = db.make_engine(cfg.database)
        db.ensure_schema(self.engine)
        cols = cfg.source.columns
        self.gold_configured = bool(cols.gold_entities or cols.gold_fields)
        self.collector = (ReportCollector(self.schema, self.loaded.labels, cfg.report.examples)
                          if self.gold_configured else None)

    def _load(self) -> tuple[LoadedModel, Schema]:
        """The model and rules; the local engine loads them into the predictor it runs."""
        prepare_runtime(self.cfg.model, self.cfg.predict.runtime)
        try:
            self.predictor: Optional[FieldPredictor] = FieldPredictor(self.cfg.model, self.cfg.predict,
                                                                    field_predictor_settings(self.cfg))
        except RulesError as exc:
            raise PipelineError(f"{self.cfg.path}: schema {self.cfg.schema} uses labels {exc.unknown} that model "
                                f"{self.cfg.model} does not predict (it predicts {exc.labels})") from None
        return self.predictor.loaded, self.predictor.schema

    def _open_source(self):
        raise NotImplementedError

    def _process(self, summary: RunSummary) -> None:
        raise NotImplementedError

    def run(self) -> RunSummary:
        # Runs of a pipeline never overlap: a second one waits for the lease, or exits 6 (LeaseHeld).
        self.lease = PipelineLease(self.engine, self.cfg.name, self.cfg.lease)
        self.lease.acquire()
        try:
            summary = self._start()
            try:
                self._process(summary)
                summary.outputs = self.export_sinks()
                if self.collector is not None and self.collector.n_docs:
                    self._report(summary)
                elif self.cfg.report.directory:
                    # No report this run (it predicted nothing: a rerun after a kill that came after the
                    # last commit), but a killed run's temporary latest.json must not stay behind.
                    with writing(self.cfg.report.directory):
                        remove_report_temporaries(self.cfg.report.directory)
                self._finish(summary, "succeeded")
            except BaseException as exc:  # KeyboardInterrupt too: the run row must not stay 'running'
                self._finish(summary, "failed", f"{type(exc).__name__}: {exc}")
                if isinstance(exc, Exception) and summary.committed_any():  # "nothing written" would be untrue
                    raise RunFailedAfterCommit(exc, summary.run_id, summary.n_processed, summary.n_skipped,
                                               summary.n_quarantined) from exc
                raise
        finally:
            self.lease.release()
        log.info("run %d %s: read %d, processed %d, skipped %d, quarantined %d, windows %d",
                 summary.run_id, summary.status, summary.n_read, summary.n_processed, summary.n_skipped,
                 summary.n_quarantined, summary.n_windows)
        return summary

    def _start(self) -> RunSummary:
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            # This run holds the pipeline's lease, so no other run of it is alive: one still 'running' was
            # killed (or, its lease taken over as stale, is as good as dead: its commits now fail).
            stale = conn.execute(update(db.runs).where(and_(db.runs.c.pipeline == self.cfg.name,
                                                            db.runs.c.status == "running"))
                                 .values(status="interrupted")).rowcount
            self.unreported_runs = self._unreported_runs(conn)
            run_id = conn.execute(insert(db.runs).values(
                pipeline=self.cfg.name, model_version=self.model_version, rules_version=self.rules_version,
                started_at=now, status="running", full_refresh=int(self.full_refresh),
                runtime=self.cfg.predict.runtime, engine=self.engine_name,
                report_pending=1 if self.owes_report else None,
            ).returning(db.runs.c.run_id)).scalar_one()
            self.lease.set_run(conn, run_id)
        if stale:
            log.warning("%d earlier run(s) of %s never finished (killed?); marked interrupted", stale, self.cfg.name)
        if self.unreported_runs:
            log.warning("run(s) %s of %s ended before writing their report: their documents go into this run's",
                        ", ".join(map(str, sorted(self.unreported_runs))), self.cfg.name)
        log.info("run %d of %s (%s engine): source %s, model %s, rules %s%s", run_id, self.cfg.name, self.engine_name,
                 self.source.describe(), self.model_version, self.rules_version,
                 " (full refresh)" if self.full_refresh else "")
        return RunSummary(run_id, self.cfg.name, self.model_version, self.rules_version, engine=self.engine_name)

    @property
    def owes_report(self) -> bool:
        """Whether this run writes an accuracy report: its source has gold and the pipeline a report directory."""
        return self.collector is not None and bool(self.cfg.report.directory)

    def _unreported_runs(self, conn: Connection) -> frozenset[int]:
        """Earlier runs of this pipeline that ended owing their report (none when this run owes none)."""
        if not self.owes_report:
            return frozenset()
        r = db.runs.c
        return frozenset(conn.execute(select(r.run_id).where(
            and_(r.pipeline == self.cfg.name, r.report_pending == 1, r.status != "running"))).scalars())

    def identity(self, summary: RunSummary) -> RunIdentity:
        """This run as the ledger sees it."""
        return RunIdentity(summary.run_id, self.model_version, self.rules_version, self.full_refresh,
                           self.lease.token, self.unreported_runs)

    def _finish(self, summary: RunSummary, status: str, message: Optional[str] = None) -> None:
        summary.status = status
        try:
            with self.engine.begin() as conn:
                conn.execute(update(db.runs).where(db.runs.c.run_id == summary.run_id).values(
                    status=status, ended_at=datetime.now(timezone.utc), message=message))
                if status == "succeeded":  # its report is written, with the documents of the runs that owed one
                    conn.execute(update(db.runs).where(db.runs.c.run_id.in_(
                        sorted(self.unreported_runs | {summary.run_id}))).values(report_pending=None))
        except Exception as exc:  # the database itself may be what failed; the original error matters more
            log.error("could not record the end of run %d: %s", summary.run_id, exc)

    def export_sinks(self) -> dict[str, str]:
        """Rewrite the pipeline's sinks from the database (``sinks.export_sinks``)."""
        return export_sinks(self.engine, self.cfg.sinks, self.schema, self.model_version, self.rules_version,
                            self.progress)

    def _report(self, summary: RunSummary) -> None:
        assert self.collector is not None
        report = self.collector.result(pipeline=self.cfg.name, run_id=summary.run_id,
                                       model_version=self.model_version, rules_version=self.rules_version)
        summary.report = report_headline(report)
        if self.cfg.report.directory:
            paths, summary.regressions = write_pipeline_report(self.cfg, report, self.unreported_runs)
            summary.outputs.update({f"report_{k}": str(v) for k, v in paths.items()})
        self.last_report = report


class Runner(PipelineRun):
    """The local engine: records are read, checked, predicted and committed in this process, one batch of
    ``docs_per_commit`` documents (one transaction) at a time."""

    engine_name = "local"

    def _open_source(self):
        return open_source(self.cfg.source)

    def _process(self, summary: RunSummary) -> None:
        for batch in self._batches(summary):
            self.process_batch(batch, summary)

    def _records(self) -> Iterator[SourceRecord]:
        for n, rec in enumerate(self.source):
            if self.limit is not None and n >= self.limit:
                return
            yield rec

    def _batches(self, summary: RunSummary) -> Iterator[list[SourceRecord]]:
        from tqdm.auto import tqdm

        batch: list[SourceRecord] = []
        total = self.source.total
        if self.limit is not None:
            total = min(total, self.limit) if total is not None else self.limit
        with tqdm(self._records(), desc=f"run {self.cfg.name}", unit="doc", total=total,
                  disable=not self.progress) as bar:
            for rec in bar:
                batch.append(rec)
                if len(batch) >= self.cfg.docs_per_commit:
                    yield batch
                    batch = []
                    bar.set_postfix(processed=summary.n_processed, skipped=summary.n_skipped,
                                    quarantined=summary.n_quarantined, refresh=False)
            if batch:
                yield batch

    def process_batch(self, records: list[SourceRecord], summary: RunSummary) -> None:
        """Check, triage, predict and commit one batch of source records."""
        assert self.predictor is not None
        items: list[Candidate | Quarantined] = []
        for rec in records:
            checked = check_record(rec, self.cfg.max_chars, self.gold_configured, self.loaded.labels)
            items.append(checked if isinstance(checked, Quarantined) else
                         Candidate(rec.position, checked.doc_id, content_hash(checked.text), None, rec.updated_at,
                                   checked))
        run = self.identity(summary)
        triage = triage_batch(self.engine, items, run)
        # Documents whose run never wrote its report are predicted again for the report, not committed.
        predictions = self.predictor.predict_documents([c.doc for c in triage.todo + triage.report_again])
        processed = [ProcessedDocument(c.doc_id, c.content_hash, p.fields, c.updated_at, p.n_windows)
                     for c, p in zip(triage.todo, predictions)]
        summary.add(commit_batch(self.engine, run, processed, triage.skipped, triage.quarantined,
                                 n_read=len(records)))
        summary.n_reported_again += len(triage.report_again)
        if self.collector is not None:
            for p in predictions:
                self.collector.add(p.doc, p.entities)


def run_pipeline(cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                 progress: bool = False) -> RunSummary:
    return Runner(cfg, full_refresh, limit, progress).run()
