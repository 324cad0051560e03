"""The nightly batch runner: source -> checks -> documents -> windows -> model -> spans -> rules
-> field values -> database (one transaction per batch) -> file sinks and report.

Safe to rerun: every batch commits its field values together with the ledger rows
that say which documents (content hash, model version, rules version) they came
from, so a run killed at any point loses at most the batch in flight, and the
rerun skips exactly what was committed.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator, Optional

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Engine

from . import db
from .documents import Document, DocumentError, Entity, validate
from .fields import FieldValue, extract_fields
from .model import LoadedModel, load_model
from .pipeline import PipelineConfig, PipelineError
from .predict import Predictor
from .reports import ReportCollector, write_report
from .schema import Schema
from .sources import SourceRecord, open_source

log = logging.getLogger(__name__)

PREVIEW_CHARS = 200
PARQUET_ROWS = 1024


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Quarantined:
    position: int
    doc_id: Optional[str]
    reason: str
    detail: str
    preview: Optional[str] = None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_rules(cfg: PipelineConfig, loaded: LoadedModel) -> Schema:
    schema = Schema.load(cfg.schema) if cfg.schema else loaded.schema
    used = {lab for spec in schema.fields for lab in spec.labels + (spec.derive.labels if spec.derive else ())}
    unknown = sorted(used - set(loaded.labels))
    if unknown:
        raise PipelineError(f"{cfg.path}: schema {cfg.schema} uses labels {unknown} that model {cfg.model} "
                            f"does not predict (it predicts {loaded.labels})")
    return schema


# ---------------------------------------------------------------- checking records

def _preview(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text[:PREVIEW_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


def check_record(rec: SourceRecord, max_chars: int, gold_configured: bool) -> Document | Quarantined:
    """A Document, or the reason this record cannot become one."""
    doc_id = rec.doc_id
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        return Quarantined(rec.position, None, "missing_id", "doc_id is null or empty", _preview(rec.text))
    if not isinstance(doc_id, str):
        return Quarantined(rec.position, _preview(doc_id), "bad_id",
                           f"doc_id must be a string or an integer, got {type(doc_id).__name__}", _preview(rec.text))
    if len(doc_id) > 255:
        return Quarantined(rec.position, doc_id[:255], "bad_id", "doc_id is longer than 255 characters")
    text = rec.text
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            return Quarantined(rec.position, doc_id, "undecodable", f"text bytes are not UTF-8 ({exc})",
                               _preview(bytes(text)))
    if text is None:
        return Quarantined(rec.position, doc_id, "null_text", "text is null")
    if not isinstance(text, str):
        return Quarantined(rec.position, doc_id, "non_string_text", f"text is a {type(text).__name__}, not a string",
                           _preview(text))
    if not text.strip():
        return Quarantined(rec.position, doc_id, "empty_text", "text is empty or only whitespace", _preview(text))
    if len(text) > max_chars:
        return Quarantined(rec.position, doc_id, "oversize", f"text has {len(text)} characters; max_chars is "
                           f"{max_chars}", _preview(text))
    bad = next((i for i, ch in enumerate(text) if ch == "\ufffd" or "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        # U+FFFD is what a lossy decode left behind; a lone surrogate cannot be stored as UTF-8 at all.
        return Quarantined(rec.position, doc_id, "undecodable",
                           f"text has an undecodable character (U+{ord(text[bad]):04X}) at offset {bad}",
                           _preview(text))
    entities: list[Entity] = []
    fields = None
    if gold_configured:
        try:
            entities, fields = _gold(rec)
            doc = Document(doc_id, text, entities, fields)
            validate(doc)
        except (ValueError, TypeError, KeyError, DocumentError) as exc:
            return Quarantined(rec.position, doc_id, "bad_gold", f"gold labels unusable: {exc}", _preview(text))
        return doc
    return Document(doc_id, text)


def _gold(rec: SourceRecord) -> tuple[list[Entity], Optional[dict]]:
    ents = rec.gold_entities
    if isinstance(ents, str):
        ents = json.loads(ents)
    entities = [Entity(int(e["start"]), int(e["end"]), str(e["label"])) for e in (ents or [])]
    fields = rec.gold_fields
    if isinstance(fields, str):
        fields = json.loads(fields)
    if fields is not None and not isinstance(fields, dict):
        raise ValueError("gold fields must be a JSON object")
    return entities, fields


# ---------------------------------------------------------------- the run

class Runner:
    def __init__(self, cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                 progress: bool = False):
        self.cfg, self.full_refresh, self.limit, self.progress = cfg, full_refresh, limit, progress
        self.loaded = load_model(cfg.model)
        self.schema = load_rules(cfg, self.loaded)
        self.model_version = self.loaded.version
        self.rules_version = self.schema.rules_version
        self.source = open_source(cfg.source)  # fails now (missing file/column) rather than mid-run
        self.engine: Engine = db.make_engine(cfg.database)
        db.ensure_schema(self.engine)
        self.predictor = Predictor(self.loaded, **cfg.predictor_options())
        cols = cfg.source.columns
        self.gold_configured = bool(cols.gold_entities or cols.gold_fields)
        self.collector = (ReportCollector(self.schema, self.loaded.labels, cfg.report.examples)
                          if self.gold_configured else None)

    def run(self) -> RunSummary:
        summary = self._start()
        try:
            for batch in self._batches(summary):
                self.process_batch(batch, summary)
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
        log.info("run %d of %s: source %s, model %s, rules %s%s", run_id, self.cfg.name, self.source.describe(),
                 self.model_version, self.rules_version, " (full refresh)" if self.full_refresh else "")
        return RunSummary(run_id, self.cfg.name, self.model_version, self.rules_version)

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
                if len(batch) >= self.cfg.batch_size:
                    yield batch
                    batch = []
                    bar.set_postfix(processed=summary.n_processed, skipped=summary.n_skipped,
                                    quarantined=summary.n_quarantined, refresh=False)
            if batch:
                yield batch

    def process_batch(self, records: list[SourceRecord], summary: RunSummary) -> None:
        quarantined: list[Quarantined] = []
        docs: list[Document] = []
        in_batch: set[str] = set()
        for rec in records:
            checked = check_record(rec, self.cfg.max_chars, self.gold_configured)
            if isinstance(checked, Document) and checked.doc_id in in_batch:
                checked = Quarantined(rec.position, checked.doc_id, "duplicate_id",
                                      "doc_id already read earlier in this run; the first one was kept",
                                      _preview(checked.text))
            if isinstance(checked, Quarantined):
                quarantined.append(checked)
            else:
                in_batch.add(checked.doc_id)
                docs.append(checked)
        hashes = {d.doc_id: content_hash(d.text) for d in docs}
        positions = {rec.doc_id if isinstance(rec.doc_id, str) else str(rec.doc_id): rec.position for rec in records}
        with self.engine.connect() as conn:
            known = {row.doc_id: row for row in conn.execute(
                select(db.processed_documents).where(db.processed_documents.c.doc_id.in_(list(hashes))))}
        todo: list[Document] = []
        skipped: list[str] = []
        for d in docs:
            row = known.get(d.doc_id)
            if row is not None and row.seen_run_id == summary.run_id:
                quarantined.append(Quarantined(positions.get(d.doc_id, -1), d.doc_id, "duplicate_id",
                                               "doc_id already read earlier in this run; the first one was kept",
                                               _preview(d.text)))
            elif (not self.full_refresh and row is not None and row.content_hash == hashes[d.doc_id]
                  and row.model_version == self.model_version and row.rules_version == self.rules_version):
                skipped.append(d.doc_id)
            else:
                todo.append(d)
        windows_before = self.predictor.windows_made
        spans = self.predictor.predict_chunk(todo) if todo else []
        chosen = [extract_fields(d.text, s, self.schema) for d, s in zip(todo, spans)]
        n_windows = self.predictor.windows_made - windows_before
        self._commit(summary.run_id, todo, hashes, chosen, skipped, quarantined,
                     {rec.doc_id: rec.updated_at for rec in records if rec.updated_at is not None},
                     counts=dict(n_read=len(records), n_processed=len(todo), n_skipped=len(skipped),
                                 n_quarantined=len(quarantined), n_windows=n_windows))
        summary.n_read += len(records)
        summary.n_processed += len(todo)
        summary.n_skipped += len(skipped)
        summary.n_quarantined += len(quarantined)
        summary.n_windows += n_windows
        for q in quarantined:
            summary.quarantine_reasons[q.reason] = summary.quarantine_reasons.get(q.reason, 0) + 1
            log.warning("quarantined record %d (doc_id %r): %s: %s", q.position, q.doc_id, q.reason, q.detail)
        if self.collector is not None:
            for d, s in zip(todo, spans):
                self.collector.add(d, s)
        log.debug("batch: %d read, %d processed, %d skipped, %d quarantined", len(records), len(todo),
                  len(skipped), len(quarantined))

    def _commit(self, run_id: int, todo: list[Document], hashes: dict[str, str],
                chosen: list[dict[str, list[FieldValue]]], skipped: list[str], quarantined: list[Quarantined],
                updated_at: dict, counts: dict) -> None:
        """One transaction per batch: values, ledger, quarantine and run counts commit together or not at all."""
        ids = [d.doc_id for d in todo]
        value_rows = [
            {"doc_id": d.doc_id, "field": name, "ordinal": i, "value": v.value, "code": v.code, "raw": v.raw,
             "start": v.start, "end": v.end, "score": None if v.score is None else float(v.score), "rule": v.rule,
             "model_version": self.model_version, "rules_version": self.rules_version, "run_id": run_id}
            for d, fields in zip(todo, chosen) for name, values in fields.items() for i, v in enumerate(values)
        ]
        ledger_rows = [
            {"doc_id": i, "content_hash": hashes[i], "model_version": self.model_version,
             "rules_version": self.rules_version, "run_id": run_id, "seen_run_id": run_id,
             "updated_at": None if updated_at.get(i) is None else str(updated_at[i])}
            for i in ids
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
                conn.execute(update(pd).where(pd.c.doc_id.in_(skipped)).values(seen_run_id=run_id))
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
        coded = {spec.name for spec in self.schema.fields if spec.codes}
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=PARQUET_ROWS).execute(stmt)
            for doc_id, rows in groupby(result, key=lambda r: r.doc_id):
                out: dict[str, Any] = {"doc_id": doc_id}
                for name in self.schema.field_names:
                    out[name] = None
                    out[f"{name}_confidence"] = None
                    if name in coded:
                        out[f"{name}_code"] = None
                values: dict[str, list] = {}
                for r in rows:
                    if r.field is not None:
                        values.setdefault(r.field, []).append(r)
                for name, vals in values.items():
                    out[name] = "|".join(v.value for v in vals)
                    scores = [v.score for v in vals if v.score is not None]
                    # A multi-valued field is only as sure as its least sure value.
                    out[f"{name}_confidence"] = round(min(scores), 4) if scores else None
                    if name in coded:
                        out[f"{name}_code"] = "|".join(v.code or "" for v in vals)
                yield out

    def wide_columns(self) -> list[str]:
        cols = ["doc_id"]
        for spec in self.schema.fields:
            cols += [spec.name, f"{spec.name}_confidence"] + ([f"{spec.name}_code"] if spec.codes else [])
        return cols

    def export_sinks(self) -> dict[str, str]:
        """Rewrite the wide table files from the database, each to a temporary name then renamed into place."""
        if not self.cfg.sinks:
            return {}
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = self.wide_columns()
        arrow_schema = pa.schema([(c, pa.float64() if c.endswith("_confidence") else pa.string()) for c in columns])
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

    loaded = load_model(cfg.model)
    schema = load_rules(cfg, loaded)
    cols = cfg.source.columns
    if not (cols.gold_entities or cols.gold_fields):
        raise PipelineError(f"{cfg.path}: the source maps no gold column (source.columns.gold_entities or "
                            "gold_fields), so there is nothing to score against")
    source = open_source(cfg.source)
    predictor = Predictor(loaded, **cfg.predictor_options())
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
