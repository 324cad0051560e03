"""The nightly batch runner: source -> checks -> documents -> windows -> model -> spans -> rules
-> field values -> database (one transaction per batch) -> file sinks and report.

Safe to rerun: every batch commits its field values together with the ledger rows
that say which documents (content hash, model version, rules version) they came
from, so a run killed at any point loses at most the batch in flight, and the
rerun skips exactly what was committed.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Engine

from extractor.data.documents import Document
from extractor.model.directory import LoadedModel, load_model
from extractor.model.export import prepare_runtime
from extractor.model.predict import Predictor
from extractor.nightly import database as db
from extractor.nightly.config import PipelineConfig, PipelineError
from extractor.nightly.field_predictor import FieldPredictor, RulesError, field_predictor_settings
from extractor.nightly.field_predictor import load_rules as _load_rules
from extractor.nightly.outputs import wide_arrow_schema, wide_columns, wide_row
from extractor.nightly.records import Quarantined, check_record, content_hash, preview
from extractor.nightly.reports import ReportCollector, write_report
from extractor.nightly.sources import SourceRecord, open_source
from extractor.rules.fields import FieldValue
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)

PARQUET_ROWS = 1024
DUPLICATE = "doc_id already read earlier in this run; the first one was kept"


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
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    report: Optional[dict] = None  # headline figures of the run's accuracy report, when the source had gold
    regressions: list[dict] = field(default_factory=list)
    engine: str = "local"  # local | ray: what read and predicted (everything else is the same code)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Candidate:
    """A record that passed the checks, as the incremental logic sees it."""

    position: int
    doc_id: str
    content_hash: str
    preview: Optional[str]  # for the quarantine row, should it turn out to be a duplicate
    updated_at: Any = None
    doc: Optional[Document] = None  # the document itself where the engine has it (the local runner)


@dataclass
class Triage:
    todo: list[Candidate]
    skipped: list[str]
    quarantined: list[Quarantined]


def load_rules(cfg: PipelineConfig, loaded: LoadedModel) -> Schema:
    try:
        return _load_rules(loaded, cfg.schema)
    except RulesError as exc:
        raise PipelineError(f"{cfg.path}: schema {cfg.schema} uses labels {exc.unknown} that model {cfg.model} "
                            f"does not predict (it predicts {loaded.labels})") from None


# ---------------------------------------------------------------- the run

class Runner:
    """The local engine: records are read, checked, predicted and committed in this process, one batch of
    ``docs_per_commit`` documents (one transaction) at a time. ``extractor.nightly.ray_engine.RayRunner`` keeps all of
    this but the reading and predicting, which it hands to a Ray cluster."""

    engine_name = "local"

    def __init__(self, cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                 progress: bool = False):
        self.cfg, self.full_refresh, self.limit, self.progress = cfg, full_refresh, limit, progress
        self.loaded, self.schema = self._load()
        self.model_version = self.loaded.version
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
        return open_source(self.cfg.source)

    def run(self) -> RunSummary:
        summary = self._start()
        try:
            self._process(summary)
            summary.outputs = self.export_sinks()
            if self.collector is not None and self.collector.n_docs:
                self._report(summary)
            self._finish(summary, "succeeded")
        except BaseException as exc:  # KeyboardInterrupt too: the run row must not stay 'running'
            self._finish(summary, "failed", f"{type(exc).__name__}: {exc}")
            raise
        log.info("run %d %s: read %d, processed %d, skipped %d, quarantined %d, windows %d",
                 summary.run_id, summary.status, summary.n_read, summary.n_processed, summary.n_skipped,
                 summary.n_quarantined, summary.n_windows)
        return summary

    def _process(self, summary: RunSummary) -> None:
        for batch in self._batches(summary):
            self.process_batch(batch, summary)

    def _start(self) -> RunSummary:
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            # Nightly runs of one pipeline do not overlap: one still 'running' was killed.
            stale = conn.execute(update(db.runs).where(and_(db.runs.c.pipeline == self.cfg.name,
                                                            db.runs.c.status == "running"))
                                 .values(status="interrupted")).rowcount
            run_id = conn.execute(insert(db.runs).values(
                pipeline=self.cfg.name, model_version=self.model_version, rules_version=self.rules_version,
                started_at=now, status="running", full_refresh=int(self.full_refresh),
            ).returning(db.runs.c.run_id)).scalar_one()
        if stale:
            log.warning("%d earlier run(s) of %s never finished (killed?); marked interrupted", stale, self.cfg.name)
        log.info("run %d of %s (%s engine): source %s, model %s, rules %s%s", run_id, self.cfg.name, self.engine_name,
                 self.source.describe(), self.model_version, self.rules_version,
                 " (full refresh)" if self.full_refresh else "")
        return RunSummary(run_id, self.cfg.name, self.model_version, self.rules_version, engine=self.engine_name)

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
            checked = check_record(rec, self.cfg.max_chars, self.gold_configured)
            items.append(checked if isinstance(checked, Quarantined) else
                         Candidate(rec.position, checked.doc_id, content_hash(checked.text), None, rec.updated_at,
                                   checked))
        triage = self.triage(items, summary.run_id)
        predictions = self.predictor.predict_documents([c.doc for c in triage.todo])
        done = [(c.doc_id, c.content_hash, p.fields, c.updated_at) for c, p in zip(triage.todo, predictions)]
        n_windows = sum(p.n_windows for p in predictions)
        self._commit(summary.run_id, done, triage.skipped, triage.quarantined,
                     counts=dict(n_read=len(records), n_processed=len(done), n_skipped=len(triage.skipped),
                                 n_quarantined=len(triage.quarantined), n_windows=n_windows))
        self._tally(summary, len(records), len(done), triage.skipped, triage.quarantined, n_windows)
        if self.collector is not None:
            for p in predictions:
                self.collector.add(p.doc, p.entities)

    def triage(self, items: Sequence[Candidate | Quarantined], run_id: int,
               pending: Optional[set[str]] = None) -> Triage:
        """Split one batch of checked records, in source order, into documents to process, documents
        unchanged since they were processed (skipped), and quarantined records (the check failures plus
        duplicates: a doc_id already read in this run, in this batch, in an earlier committed batch, or in
        ``pending``, documents accepted earlier in this run whose results are not committed yet)."""
        quarantined: list[Quarantined] = []
        firsts: list[Candidate] = []
        in_batch: set[str] = set()

        def duplicate(c: Candidate) -> Quarantined:
            text_preview = c.preview if c.preview is not None or c.doc is None else preview(c.doc.text)
            return Quarantined(c.position, c.doc_id, "duplicate_id", DUPLICATE, text_preview)

        for item in items:
            if isinstance(item, Quarantined):
                quarantined.append(item)
            elif item.doc_id in in_batch or (pending is not None and item.doc_id in pending):
                quarantined.append(duplicate(item))
            else:
                in_batch.add(item.doc_id)
                firsts.append(item)
        known = self._ledger_rows([c.doc_id for c in firsts])
        todo: list[Candidate] = []
        skipped: list[str] = []
        for c in firsts:
            row = known.get(c.doc_id)
            if row is not None and row.seen_run_id == run_id:
                quarantined.append(duplicate(c))
            elif (not self.full_refresh and row is not None and row.content_hash == c.content_hash
                  and row.model_version == self.model_version and row.rules_version == self.rules_version):
                skipped.append(c.doc_id)
            else:
                todo.append(c)
        return Triage(todo, skipped, quarantined)

    def _ledger_rows(self, doc_ids: list[str]) -> dict:
        if not doc_ids:
            return {}
        with self.engine.connect() as conn:
            return {row.doc_id: row for row in conn.execute(
                select(db.processed_documents).where(db.processed_documents.c.doc_id.in_(doc_ids)))}

    def _tally(self, summary: RunSummary, n_read: int, n_processed: int, skipped: Sequence[str],
               quarantined: Sequence[Quarantined], n_windows: int) -> None:
        summary.n_read += n_read
        summary.n_processed += n_processed
        summary.n_skipped += len(skipped)
        summary.n_quarantined += len(quarantined)
        summary.n_windows += n_windows
        for q in quarantined:
            summary.quarantine_reasons[q.reason] = summary.quarantine_reasons.get(q.reason, 0) + 1
            log.warning("quarantined record %d (doc_id %r): %s: %s", q.position, q.doc_id, q.reason, q.detail)
        log.debug("batch: %d read, %d processed, %d skipped, %d quarantined", n_read, n_processed, len(skipped),
                  len(quarantined))

    def _commit(self, run_id: int, done: Sequence[tuple[str, str, dict[str, list[FieldValue]], Any]],
                skipped: Sequence[str], quarantined: Sequence[Quarantined], counts: dict) -> None:
        """One transaction per batch: values, ledger, quarantine and run counts commit together or not at all.
        ``done`` holds (doc_id, content hash, chosen values per field, source updated_at) per processed document."""
        ids = [doc_id for doc_id, _, _, _ in done]
        value_rows = [
            {"doc_id": doc_id, "field": name, "ordinal": i, "value": v.value, "code": v.code, "raw": v.raw,
             "start": v.start, "end": v.end, "score": None if v.score is None else float(v.score), "rule": v.rule,
             "model_version": self.model_version, "rules_version": self.rules_version, "run_id": run_id}
            for doc_id, _, fields, _ in done for name, values in fields.items() for i, v in enumerate(values)
        ]
        ledger_rows = [
            {"doc_id": doc_id, "content_hash": digest, "model_version": self.model_version,
             "rules_version": self.rules_version, "run_id": run_id, "seen_run_id": run_id,
             "updated_at": None if updated_at is None else str(updated_at)}
            for doc_id, digest, _, updated_at in done
        ]
        now = datetime.now(timezone.utc)
        pd, fv = db.processed_documents, db.field_values
        with self.engine.begin() as conn:
            if ids:
                # Replace, don't add: a value that disappeared leaves no stale row behind.
                conn.execute(delete(fv).where(and_(fv.c.model_version == self.model_version, fv.c.doc_id.in_(ids))))
                if value_rows:
                    conn.execute(insert(fv), value_rows)
                conn.execute(delete(pd).where(pd.c.doc_id.in_(ids)))
                conn.execute(insert(pd), ledger_rows)
            if skipped:
                conn.execute(update(pd).where(pd.c.doc_id.in_(list(skipped))).values(seen_run_id=run_id))
            if quarantined:
                conn.execute(insert(db.quarantine), [
                    {"run_id": run_id, "doc_id": q.doc_id, "position": q.position, "reason": q.reason,
                     "detail": q.detail, "text_preview": q.preview, "quarantined_at": now} for q in quarantined])
            r = db.runs.c
            conn.execute(update(db.runs).where(r.run_id == run_id).values(
                n_read=r.n_read + counts["n_read"], n_processed=r.n_processed + counts["n_processed"],
                n_skipped=r.n_skipped + counts["n_skipped"], n_quarantined=r.n_quarantined + counts["n_quarantined"],
                n_windows=r.n_windows + counts["n_windows"]))

    def _finish(self, summary: RunSummary, status: str, message: Optional[str] = None) -> None:
        summary.status = status
        try:
            with self.engine.begin() as conn:
                conn.execute(update(db.runs).where(db.runs.c.run_id == summary.run_id).values(
                    status=status, ended_at=datetime.now(timezone.utc), message=message))
        except Exception as exc:  # the database itself may be what failed; the original error matters more
            log.error("could not record the end of run %d: %s", summary.run_id, exc)

    # ------------------------------------------------------------ sinks and report

    def wide_rows(self) -> Iterator[dict]:
        """One row per document processed under the current model and rules, from the database."""
        pd, fv = db.processed_documents, db.field_values
        stmt = (
            select(pd.c.doc_id, fv.c.field, fv.c.ordinal, fv.c.value, fv.c.code, fv.c.score)
            .select_from(pd.outerjoin(fv, and_(fv.c.doc_id == pd.c.doc_id, fv.c.model_version == pd.c.model_version)))
            .where(and_(pd.c.model_version == self.model_version, pd.c.rules_version == self.rules_version))
            .order_by(pd.c.doc_id, fv.c.field, fv.c.ordinal)
        )
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=PARQUET_ROWS).execute(stmt)
            for doc_id, rows in groupby(result, key=lambda r: r.doc_id):
                values: dict[str, list] = {}
                for r in rows:
                    if r.field is not None:
                        values.setdefault(r.field, []).append(r)
                yield wide_row(doc_id, values, self.schema)

    def wide_columns(self) -> list[str]:
        return wide_columns(self.schema)

    def export_sinks(self) -> dict[str, str]:
        """Rewrite the wide table files from the database, each to a temporary name then renamed into place."""
        if not self.cfg.sinks:
            return {}
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = self.wide_columns()
        arrow_schema = wide_arrow_schema(self.schema)
        writers, handles, paths = [], [], {}
        for sink in self.cfg.sinks:
            final = Path(sink.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
            paths[sink.type] = (tmp, final)
            if sink.type == "csv":
                fh = tmp.open("w", encoding="utf-8", newline="")
                handles.append(fh)
                w = csv.DictWriter(fh, fieldnames=columns)
                w.writeheader()
                writers.append(("csv", w))
            else:
                writers.append(("parquet", pq.ParquetWriter(tmp, arrow_schema)))
        chunk: list[dict] = []

        def flush() -> None:
            table = pa.Table.from_pylist(chunk, schema=arrow_schema)
            for kind, w in writers:
                if kind == "parquet":
                    w.write_table(table)

        from tqdm.auto import tqdm

        n = 0
        try:
            for row in tqdm(self.wide_rows(), desc="write sinks", unit="doc", disable=not self.progress):
                n += 1
                for kind, w in writers:
                    if kind == "csv":
                        w.writerow(row)
                chunk.append(row)
                if len(chunk) >= PARQUET_ROWS:
                    flush()
                    chunk = []
            if chunk or n == 0:
                flush()
        finally:
            for fh in handles:
                fh.close()
            for kind, w in writers:
                if kind == "parquet":
                    w.close()
        for tmp, final in paths.values():
            tmp.replace(final)
        log.info("wrote %d documents to %s", n, ", ".join(str(f) for _, f in paths.values()))
        return {kind: str(final) for kind, (_, final) in paths.items()}

    def _report(self, summary: RunSummary) -> None:
        assert self.collector is not None
        report = self.collector.result(pipeline=self.cfg.name, run_id=summary.run_id,
                                       model_version=self.model_version, rules_version=self.rules_version)
        summary.report = {"n_docs": report["n_docs"], "doc_exact_match": report["doc_exact_match"],
                          "fields_f1": {k: v["f1"] for k, v in report["fields"].items()}}
        if self.cfg.report.directory:
            paths, summary.regressions = write_report(report, self.cfg.report.directory, self.cfg.report.max_f1_drop,
                                                        self.cfg.report.min_docs)
            summary.outputs.update({f"report_{k}": str(v) for k, v in paths.items()})
        self.last_report = report


def run_pipeline(cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                 progress: bool = False) -> RunSummary:
    return Runner(cfg, full_refresh, limit, progress).run()


def evaluate_pipeline(cfg: PipelineConfig, limit: Optional[int] = None, progress: bool = False) -> tuple[dict, dict, list]:
    """Score the pipeline's model and rules on every gold-labelled record of its source (nothing is written
    to the database). Returns (report, paths, regressions)."""
    from tqdm.auto import tqdm

    prepare_runtime(cfg.model, cfg.predict.runtime)
    loaded = load_model(cfg.model)
    schema = load_rules(cfg, loaded)
    cols = cfg.source.columns
    if not (cols.gold_entities or cols.gold_fields):
        raise PipelineError(f"{cfg.path}: the source maps no gold column (source.columns.gold_entities or "
                            "gold_fields), so there is nothing to score against")
    source = open_source(cfg.source)
    predictor = Predictor(loaded, cfg.predict)
    collector = ReportCollector(schema, loaded.labels, cfg.report.examples)

    def docs() -> Iterator[Document]:
        for n, rec in enumerate(source):
            if limit is not None and n >= limit:
                return
            checked = check_record(rec, cfg.max_chars, True)
            if isinstance(checked, Document):
                yield checked

    for doc, spans in tqdm(predictor.predict(docs()), desc="report", unit="doc", disable=not progress):
        collector.add(doc, spans)
    report = collector.result(pipeline=cfg.name, run_id=None, model_version=loaded.version,
                              rules_version=schema.rules_version)
    paths: dict = {}
    regressions: list = []
    if cfg.report.directory:
        paths, regressions = write_report(report, cfg.report.directory, cfg.report.max_f1_drop,
                                          cfg.report.min_docs)
    return report, paths, regressions
