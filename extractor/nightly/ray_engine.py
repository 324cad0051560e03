"""``extractor run PIPELINE --engine ray``: the same pipeline, its reading and predicting spread over a Ray
cluster with Ray Data, its bookkeeping on the driver exactly as the local runner keeps it.

Two passes over the Parquet input (``ray.data.read_parquet``, only the mapped columns):

1. **plan** (Ray tasks in ``ray_tasks``, order preserved): every record is checked
   (``records.check_record``, the local runner's own checks) and its text hashed; only small rows come
   back (doc_id, content hash, or the quarantine reason and a preview). The driver numbers them in
   source order and triages them in batches of ``docs_per_commit`` against the ledger with
   ``ledger.triage_batch``, as the local runner does: bad records and duplicate ids are quarantined,
   unchanged documents skipped (both committed per batch with ``ledger.commit_batch``, with the run's
   counts), the rest planned.
2. **predict** (Ray tasks, then an actor pool): the input is read again, the planned documents (doc_id
   and content hash, as a sorted array of 64-bit keys in the object store) are kept, and
   ``batch.FieldPredictor`` runs in ``map_batches`` on a pool of actors, each loading the model once.
   The driver commits what comes back one transaction per ``docs_per_commit`` documents, with
   ``ledger.commit_batch``: field values, ledger rows, run counts.

Then the sinks are rewritten from the database and the report written: ``runner.PipelineRun``, the
run's lifecycle both engines share.
So a Ray run is incremental like a local one, writes the same run row, ledger, field values, quarantine
and sinks, and a local run after it (or a Ray run after a local one) continues where it left off.
"""
from __future__ import annotations

import json
import logging
import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from extractor.data.documents import Document
from extractor.model.directory import LoadedModel
from extractor.nightly.config import ColumnMap, PipelineConfig, PipelineError
from extractor.nightly.engines import EngineError
from extractor.nightly.field_predictor import (
    FieldPredictor,
    entities_from_rows,
    field_predictor_settings,
    field_values_from_rows,
)
from extractor.nightly.ledger import Candidate, ProcessedDocument, commit_batch, triage_batch
from extractor.nightly.ray_tasks import plan_batch, plan_key, select_planned
from extractor.nightly.records import Quarantined, parse_gold
from extractor.nightly.runner import PipelineRun, RunSummary
from extractor.nightly.sources import ParquetSource
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


class RayRunner(PipelineRun):
    """The Ray engine: reading and predicting done by Ray Data; the run's lifecycle is ``PipelineRun``'s."""

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
            pending, report_only, keys = self._plan(ray, summary)
            self.timings["plan_s"] = time.perf_counter() - start
            if pending or report_only:
                start = time.perf_counter()
                self._predict(ray, summary, self.pool, pending, report_only, keys)
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
        """Pass 1: check and hash every record in Ray, triage on the driver; returns the doc_ids planned for
        processing, those to predict for the report only (their run never wrote its report), and the sorted
        64-bit keys of both."""
        import numpy as np
        from tqdm.auto import tqdm

        # updated_at too: the checks quarantine a value too long for its column, at planning as later.
        columns = self._columns("id", "text", "updated_at", "gold_entities", "gold_fields") \
            if self.gold_configured else self._columns("id", "text", "updated_at")
        ds = self._dataset(ray, columns)
        if self.limit is not None:
            ds = ds.limit(self.limit)
        ds = ds.map_batches(plan_batch, batch_format="pyarrow", zero_copy_batch=True,
                            fn_kwargs={"columns": columns, "max_chars": self.cfg.max_chars,
                                       "gold_configured": self.gold_configured,
                                       "labels": list(self.loaded.labels)})
        ds.context.execution_options.preserve_order = True  # positions and "first one wins" follow the source
        ds.context.enable_progress_bars = False  # the driver draws its own bars (on a terminal)
        run = self.identity(summary)
        pending: set[str] = set()
        report_only: set[str] = set()
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
                triage = triage_batch(self.engine, items, run, pending)
                for c in triage.todo:
                    pending.add(c.doc_id)
                    keys.append(plan_key(c.doc_id, c.content_hash))
                for c in triage.report_again:
                    report_only.add(c.doc_id)
                    keys.append(plan_key(c.doc_id, c.content_hash))
                summary.n_reported_again += len(triage.report_again)
                summary.add(commit_batch(self.engine, run, [], triage.skipped, triage.quarantined,
                                         n_read=len(items)))
                bar.update(len(items))
                busy += time.perf_counter() - start
        self.timings["plan_driver_s"] = busy
        log.info("planned: %d read, %d to process, %d unchanged, %d quarantined", summary.n_read, len(pending),
                 summary.n_skipped, summary.n_quarantined)
        return pending, report_only, np.array(sorted(keys), dtype=np.uint64)

    def _predict(self, ray, summary: RunSummary, pool: Pool, pending: set[str], report_only: set[str],
                 keys) -> None:
        """Pass 2: the planned documents through FieldPredictor actors; commit what comes back (the
        report-only documents only go into the report)."""
        from tqdm.auto import tqdm

        columns = self._columns("id", "text", "updated_at", "gold_entities", "gold_fields")
        options = replace(self.cfg.predict, threads=pool.threads)
        settings = field_predictor_settings(self.cfg, self.schema, model_version=self.loaded.version,
                                            keep_text=self.gold_configured)
        ds = self._dataset(ray, columns)
        ds = ds.map_batches(select_planned, batch_format="pyarrow", zero_copy_batch=True,
                            fn_kwargs={"keys": [ray.put(keys)], "columns": columns, "max_chars": self.cfg.max_chars,
                                       "gold_configured": self.gold_configured,
                                       "labels": list(self.loaded.labels)})
        ds = ds.map_batches(FieldPredictor, batch_format="pyarrow", batch_size=self.cfg.ray.docs_per_call,
                            fn_constructor_kwargs={"model_dir": self.cfg.model, "options": options,
                                                   "settings": settings},
                            compute=ray.data.ActorPoolStrategy(min_size=pool.min_size, max_size=pool.max_size),
                            num_cpus=pool.num_cpus)
        ds.context.enable_progress_bars = False
        # Blocks of about one actor call each: the pool hands out whole blocks, so one big block would keep
        # every actor but one idle.
        ds.context.target_max_block_size = self._block_bytes(columns)
        n_planned, run = len(pending), self.identity(summary)
        with tqdm(desc=f"predict {self.cfg.name}", unit="doc", total=n_planned, disable=not self.progress) as bar:
            busy = 0.0  # driver time per batch: what bounds a run when the cluster predicts faster than it commits
            for table in ds.iter_batches(batch_size=self.cfg.docs_per_commit, batch_format="pyarrow"):
                start = time.perf_counter()
                done: list[ProcessedDocument] = []
                for r in table.to_pylist():
                    if r["doc_id"] not in pending and r["doc_id"] not in report_only:
                        continue  # a second copy of a document already committed: quarantined when planned
                    if r["error"] is not None:  # select_planned passes checked documents only
                        raise EngineError(f"document {r['doc_id']!r} came back unpredicted: {r['error']}")
                    if r["doc_id"] in pending:
                        pending.discard(r["doc_id"])
                        done.append(ProcessedDocument(r["doc_id"], r["_content_hash"],
                                                      field_values_from_rows(r["field_values"]), r["_updated_at"],
                                                      r["n_windows"]))
                    else:
                        report_only.discard(r["doc_id"])
                    if self.collector is not None:
                        entities, fields = parse_gold(*json.loads(r["_gold"]))
                        self.collector.add(Document(r["doc_id"], r["text"], entities, fields),
                                           entities_from_rows(r["entities"]))
                if done:  # read and counted when planned: n_read 0
                    summary.add(commit_batch(self.engine, run, done, n_read=0))
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
