"""``extractor run PIPELINE --engine ray``: the same pipeline, its reading and predicting spread over a Ray
cluster with Ray Data, its bookkeeping on the driver exactly as the local runner keeps it.

Two passes over the Parquet input (``ray.data.read_parquet``, only the mapped columns):

1. **plan** (Ray tasks, order preserved): every record is checked (``records.check_record``, the local
   runner's own checks) and its text hashed; only small rows come back (doc_id, content hash, or the
   quarantine reason and a preview). The driver numbers them in source order and triages them in
   batches of ``docs_per_commit`` with the local runner's own ``Runner.triage`` against the ledger: bad
   records and duplicate ids are quarantined, unchanged documents skipped (both committed per batch,
   with the run's counts), the rest planned.
2. **predict** (Ray tasks, then an actor pool): the input is read again, the planned documents (doc_id
   and content hash, as a sorted array of 64-bit keys in the object store) are kept, and
   ``batch.FieldPredictor`` runs in ``map_batches`` on a pool of actors, each loading the model once.
   The driver commits what comes back one transaction per ``docs_per_commit`` documents, with
   ``Runner._commit``: field values, ledger rows, run counts.

Then the sinks are rewritten from the database and the report written, by the same code as a local run.
So a Ray run is incremental like a local one, writes the same run row, ledger, field values, quarantine
and sinks, and a local run after it (or a Ray run after a local one) continues where it left off.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Optional

from extractor.data.documents import Document
from extractor.model.directory import LoadedModel
from extractor.nightly.config import ColumnMap, PipelineConfig, PipelineError
from extractor.nightly.engines import EngineError
from extractor.nightly.field_predictor import (
    FieldPredictor,
    entities_from_rows,
    field_values_from_rows,
    field_predictor_settings,
)
from extractor.nightly.records import Quarantined, check_record, content_hash, parse_gold, preview
from extractor.nightly.runner import Candidate, Runner, RunSummary
from extractor.nightly.sources import ParquetSource, SourceRecord
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'resume-extractor[ray]'"


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] extra)
    except ImportError as exc:
        raise EngineError(f"--engine ray needs Ray Data, an optional extra that is not installed ({exc}): "
                          f"{INSTALL_HINT}") from None
    return ray


def check_pipeline(cfg: PipelineConfig) -> None:
    """What a pipeline needs to run on Ray: Parquet in, Parquet out."""
    if cfg.source.type != "parquet":
        raise PipelineError(f"{cfg.path}: --engine ray reads Parquet (ray.data.read_parquet), but the source is "
                            f"{cfg.source.type!r}; run this pipeline with the local engine, or export the table to "
                            "Parquet and point a parquet source at it")
    if not any(s.type == "parquet" for s in cfg.sinks):
        raise PipelineError(f"{cfg.path}: --engine ray writes Parquet: add a sink "
                            "`{type: parquet, path: .../fields.parquet}` to the pipeline (or --set "
                            "'sinks=[{type: parquet, path: ...}]')")


def is_uri(path: str) -> bool:
    return "://" in path


class RemoteParquet:
    """A Parquet source the driver cannot list itself (s3://, gs://, ...): Ray reads and checks it."""

    def __init__(self, path: str):
        self.path, self.files, self.total = path, [path], None

    def describe(self) -> str:
        return self.path


# ---------------------------------------------------------------- what runs in Ray tasks

PLAN_COLUMNS = ("doc_id", "reason", "detail", "preview", "content_hash")


def plan_key(doc_id: str, digest: str) -> int:
    """64 bits naming (doc_id, content hash): how the predict pass recognises the planned documents."""
    return int.from_bytes(hashlib.blake2b(f"{doc_id}\0{digest}".encode("utf-8"), digest_size=8).digest(), "big")


def _records(table, columns: dict) -> Iterator[SourceRecord]:
    def col(key: str) -> list:
        name = columns.get(key)
        return table.column(name).to_pylist() if name else [None] * table.num_rows

    ids, texts, updated = col("id"), col("text"), col("updated_at")
    gold_e, gold_f = col("gold_entities"), col("gold_fields")
    for i in range(table.num_rows):
        yield SourceRecord(i, ids[i], texts[i], updated[i], gold_e[i], gold_f[i])


def plan_batch(table, columns: dict, max_chars: int, gold_configured: bool):
    """Ray task: check and hash every record; small rows out, in input order (the text stays behind)."""
    import pyarrow as pa

    rows = []
    for rec in _records(table, columns):
        checked = check_record(rec, max_chars, gold_configured)
        if isinstance(checked, Quarantined):
            rows.append({"doc_id": checked.doc_id, "reason": checked.reason, "detail": checked.detail,
                         "preview": checked.preview, "content_hash": None})
        else:  # the preview is for the quarantine row, should the driver find the doc_id a duplicate
            rows.append({"doc_id": checked.doc_id, "reason": None, "detail": None, "preview": preview(checked.text),
                         "content_hash": content_hash(checked.text)})
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in PLAN_COLUMNS]))


def select_planned(table, keys: list, columns: dict, max_chars: int, gold_configured: bool):
    """Ray task: the planned documents of a batch as FieldPredictor input (doc_id, text) plus what the
    driver needs to commit them (_content_hash, _updated_at, and the gold labels for the report)."""
    import numpy as np
    import pyarrow as pa
    import ray

    planned = ray.get(keys[0])  # sorted uint64, shared read-only through the object store
    rows = []
    for rec in _records(table, columns):
        doc = check_record(rec, max_chars, gold_configured)
        if not isinstance(doc, Document):
            continue
        digest = content_hash(doc.text)
        rows.append({"doc_id": doc.doc_id, "text": doc.text, "_content_hash": digest,
                     "_updated_at": None if rec.updated_at is None else str(rec.updated_at),
                     "_gold": json.dumps([rec.gold_entities, rec.gold_fields], ensure_ascii=False, default=str)
                     if gold_configured else None, "_key": plan_key(doc.doc_id, digest)})
    if rows and len(planned):
        keys_here = np.array([r.pop("_key") for r in rows], dtype=np.uint64)
        at = np.minimum(np.searchsorted(planned, keys_here), len(planned) - 1)
        rows = [r for r, hit in zip(rows, planned[at] == keys_here) if hit]
    else:
        rows = []
    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("_content_hash", pa.string()),
                        ("_updated_at", pa.string()), ("_gold", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


# ---------------------------------------------------------------- the driver

@dataclass
class Pool:
    min_size: int
    max_size: int
    num_cpus: float

    @property
    def threads(self) -> int:
        return max(1, int(self.num_cpus))


def actor_pool(cfg: PipelineConfig, cluster_cpus: float) -> Pool:
    """The prediction pool for a cluster of ``cluster_cpus`` CPUs. The actors start before any read task,
    so if they held every CPU the reads could never run and Ray Data would wait forever
    (ray-project/ray#44687): at least one CPU is left to the reading."""
    cpus = cfg.ray.num_cpus_per_actor
    spare = cluster_cpus - 1
    if cfg.ray.concurrency is None:
        n = int(spare // cpus) if spare >= cpus else 0
        if n < 1:
            raise EngineError(f"{cfg.path}: the Ray cluster has {cluster_cpus:g} CPUs; one actor of "
                              f"ray.num_cpus_per_actor={cpus:g} plus one CPU for reading needs {cpus + 1:g}: lower "
                              "ray.num_cpus_per_actor or add nodes")
        return Pool(n, n, cpus)
    lo, hi = cfg.ray.concurrency
    if lo * cpus > spare:
        raise EngineError(f"{cfg.path}: ray.concurrency starts {lo} actor(s) of {cpus:g} CPU(s) = {lo * cpus:g} "
                          f"CPUs, but the Ray cluster has {cluster_cpus:g} and one must stay free for reading "
                          "(otherwise Ray Data waits forever): lower ray.concurrency or ray.num_cpus_per_actor")
    return Pool(lo, hi, cpus)


@contextmanager
def ray_session(address: Optional[str]):
    """Connect to ``address`` (or start a local instance); reuse a session the caller already opened."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"address": address, "logging_level": logging.WARNING}
    if address is None:
        kwargs["include_dashboard"] = False
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise EngineError(f"cannot connect to {where}: {str(exc).strip().splitlines()[0]}", exit_code=3) from None
    try:
        yield ray
    finally:
        ray.shutdown()


class RayRunner(Runner):
    """``Runner`` with the reading and predicting done by Ray Data; everything else is the local runner's."""

    engine_name = "ray"

    def __init__(self, cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                 progress: bool = False, address: Optional[str] = None):
        check_pipeline(cfg)
        import_ray()  # before anything is loaded or written
        self.address = address or cfg.ray.address
        super().__init__(cfg, full_refresh, limit, progress)

    def _load(self) -> tuple[LoadedModel, Schema]:
        # The actors predict; the driver builds one predictor anyway, so that a bad model, rules file or
        # runtime fails here, before anything is written, not in every actor.
        loaded, schema = super()._load()
        self.predictor = None
        return loaded, schema

    def _open_source(self):
        if is_uri(self.cfg.source.path or ""):
            return RemoteParquet(self.cfg.source.path or "")
        return ParquetSource(Path(self.cfg.source.path or ""), self.cfg.source.columns)

    def _columns(self, *keys: str) -> dict:
        cols: ColumnMap = self.cfg.source.columns
        return {k: getattr(cols, k) for k in keys if getattr(cols, k)}

    def _paths(self) -> list[str]:
        return [str(f) for f in self.source.files]

    def run(self) -> RunSummary:
        with ray_session(self.address) as ray:
            self.ray = ray
            cpus = float(ray.cluster_resources().get("CPU", 0))
            self.pool = actor_pool(self.cfg, cpus)  # a pool that cannot run fails before the run row is written
            log.info("Ray cluster: %g CPUs; prediction pool of %s actor(s) x %g CPU(s), %d torch thread(s) each",
                     cpus, self.pool.min_size if self.pool.min_size == self.pool.max_size else
                     f"{self.pool.min_size}-{self.pool.max_size}", self.pool.num_cpus, self.pool.threads)
            with warnings.catch_warnings():
                # Ray counts the pool's inputs by files before the reads split them into blocks, and warns that
                # one file cannot keep several actors busy; the blocks are sized for that (_block_bytes).
                warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
                return super().run()

    def _process(self, summary: RunSummary) -> None:
        ray = self.ray
        self.timings: dict[str, float] = {}
        try:
            start = time.perf_counter()
            pending, keys = self._plan(ray, summary)
            self.timings["plan_s"] = time.perf_counter() - start
            if pending:
                start = time.perf_counter()
                self._predict(ray, summary, self.pool, pending, keys)
                self.timings["predict_s"] = time.perf_counter() - start
            log.info("Ray passes (wall, and of it the driver's own work): %s",
                     ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in self.timings.items()))
        except ray.exceptions.RayError as exc:
            raise EngineError(f"the Ray job failed: {_cause(exc)}") from exc

    def _dataset(self, ray, columns: dict):
        # Only the mapped columns are read: the projection is pushed down into the Parquet reader.
        return ray.data.read_parquet(self._paths()).select_columns(sorted(set(columns.values())))

    def _block_bytes(self, columns: dict) -> int:
        """Bytes of about ``ray.docs_per_call`` input rows, from the Parquet metadata (1 MiB when unknown)."""
        size = rows = 0
        if isinstance(self.source, ParquetSource):
            import pyarrow.parquet as pq

            wanted = set(columns.values())
            for f in self.source.files:
                meta = pq.ParquetFile(f).metadata
                rows += meta.num_rows
                for g in range(meta.num_row_groups):
                    group = meta.row_group(g)
                    size += sum(group.column(c).total_uncompressed_size for c in range(group.num_columns)
                                if group.column(c).path_in_schema.split(".")[0] in wanted)
        per_row = size / rows if rows else 4096
        return int(min(max(per_row * self.cfg.ray.docs_per_call, 4 << 10), 128 << 20))

    def _plan(self, ray, summary: RunSummary):
        """Pass 1: check and hash every record in Ray, triage on the driver; returns the planned doc_ids and
        their sorted 64-bit keys."""
        import numpy as np
        from tqdm.auto import tqdm

        columns = self._columns("id", "text", "gold_entities", "gold_fields") if self.gold_configured else \
            self._columns("id", "text")
        ds = self._dataset(ray, columns)
        if self.limit is not None:
            ds = ds.limit(self.limit)
        ds = ds.map_batches(plan_batch, batch_format="pyarrow", zero_copy_batch=True,
                            fn_kwargs={"columns": columns, "max_chars": self.cfg.max_chars,
                                       "gold_configured": self.gold_configured})
        ds.context.execution_options.preserve_order = True  # positions and "first one wins" follow the source
        ds.context.enable_progress_bars = False  # the driver draws its own bars (on a terminal)
        pending: set[str] = set()
        keys: list[int] = []
        position = 0
        total = self.source.total if self.limit is None else min(self.limit, self.source.total or self.limit)
        with tqdm(desc=f"plan {self.cfg.name}", unit="doc", total=total, disable=not self.progress) as bar:
            busy = 0.0
            for table in ds.iter_batches(batch_size=self.cfg.docs_per_commit, batch_format="pyarrow"):
                start = time.perf_counter()
                items: list[Candidate | Quarantined] = []
                for r in table.to_pylist():
                    if r["reason"] is not None:
                        items.append(Quarantined(position, r["doc_id"], r["reason"], r["detail"], r["preview"]))
                    else:
                        items.append(Candidate(position, r["doc_id"], r["content_hash"], r["preview"]))
                    position += 1
                triage = self.triage(items, summary.run_id, pending)
                for c in triage.todo:
                    pending.add(c.doc_id)
                    keys.append(plan_key(c.doc_id, c.content_hash))
                self._commit(summary.run_id, [], triage.skipped, triage.quarantined,
                             counts=dict(n_read=len(items), n_processed=0, n_skipped=len(triage.skipped),
                                         n_quarantined=len(triage.quarantined), n_windows=0))
                self._tally(summary, len(items), 0, triage.skipped, triage.quarantined, 0)
                bar.update(len(items))
                busy += time.perf_counter() - start
        self.timings["plan_driver_s"] = busy
        log.info("planned: %d read, %d to process, %d unchanged, %d quarantined", summary.n_read, len(pending),
                 summary.n_skipped, summary.n_quarantined)
        return pending, np.array(sorted(keys), dtype=np.uint64)

    def _predict(self, ray, summary: RunSummary, pool: Pool, pending: set[str], keys) -> None:
        """Pass 2: the planned documents through FieldPredictor actors; commit what comes back."""
        from tqdm.auto import tqdm

        columns = self._columns("id", "text", "updated_at", "gold_entities", "gold_fields")
        options = replace(self.cfg.predict, threads=pool.threads)
        settings = field_predictor_settings(self.cfg, self.schema, model_version=self.model_version,
                                            keep_text=self.gold_configured)
        ds = self._dataset(ray, columns)
        ds = ds.map_batches(select_planned, batch_format="pyarrow", zero_copy_batch=True,
                            fn_kwargs={"keys": [ray.put(keys)], "columns": columns, "max_chars": self.cfg.max_chars,
                                       "gold_configured": self.gold_configured})
        ds = ds.map_batches(FieldPredictor, batch_format="pyarrow", batch_size=self.cfg.ray.docs_per_call,
                            fn_constructor_kwargs={"model_dir": self.cfg.model, "options": options,
                                                   "settings": settings},
                            compute=ray.data.ActorPoolStrategy(min_size=pool.min_size, max_size=pool.max_size),
                            num_cpus=pool.num_cpus)
        ds.context.enable_progress_bars = False
        # Blocks of about one actor call each: the pool hands out whole blocks, so one big block would keep
        # every actor but one idle.
        ds.context.target_max_block_size = self._block_bytes(columns)
        n_planned = len(pending)
        with tqdm(desc=f"predict {self.cfg.name}", unit="doc", total=n_planned, disable=not self.progress) as bar:
            busy = 0.0  # driver time per batch: what bounds a run when the cluster predicts faster than it commits
            for table in ds.iter_batches(batch_size=self.cfg.docs_per_commit, batch_format="pyarrow"):
                start = time.perf_counter()
                done, n_windows = [], 0
                for r in table.to_pylist():
                    if r["doc_id"] not in pending:
                        continue  # a second copy of a document already committed: quarantined when planned
                    if r["error"] is not None:  # select_planned passes checked documents only
                        raise EngineError(f"document {r['doc_id']!r} came back unpredicted: {r['error']}")
                    pending.discard(r["doc_id"])
                    done.append((r["doc_id"], r["_content_hash"], field_values_from_rows(r["field_values"]),
                                 r["_updated_at"]))
                    n_windows += r["n_windows"]
                    if self.collector is not None:
                        entities, fields = parse_gold(*json.loads(r["_gold"]))
                        self.collector.add(Document(r["doc_id"], r["text"], entities, fields),
                                           entities_from_rows(r["entities"]))
                if done:
                    self._commit(summary.run_id, done, [], [], counts=dict(
                        n_read=0, n_processed=len(done), n_skipped=0, n_quarantined=0, n_windows=n_windows))
                    self._tally(summary, 0, len(done), [], [], n_windows)
                    bar.update(len(done))
                busy += time.perf_counter() - start
        self.timings["predict_driver_s"] = busy
        if pending:
            raise EngineError(f"{len(pending)} of the {n_planned} documents planned in this run did not come back "
                              f"from the prediction pass (e.g. {sorted(pending)[:3]}): did the input change during "
                              "the run? What was committed stays; the next run processes the rest")


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.*)$")


def _cause(exc: BaseException) -> str:
    """The error that made a Ray task or actor fail, in one line: Ray wraps it (RayTaskError, ActorDiedError,
    UserCodeException) and keeps the original only as text, in the traceback it carries."""
    text = str(exc)
    for line in text.splitlines():
        m = _ERROR_LINE.match(line.strip())
        if m and not m.group(1).startswith("ray."):
            return f"{m.group(1).rsplit('.', 1)[-1]}: {m.group(2)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__


def run_pipeline_ray(cfg: PipelineConfig, full_refresh: bool = False, limit: Optional[int] = None,
                     progress: bool = False, address: Optional[str] = None) -> RunSummary:
    return RayRunner(cfg, full_refresh, limit, progress, address).run()
