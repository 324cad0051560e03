"""Pipeline definitions: a YAML file says where documents come from, which model and rules
apply, where results go and how the report is kept. This module only parses and checks it.

Values may use ``${NAME}`` or ``${NAME:-default}``, filled from the environment
(or the ``variables`` given to ``load_pipeline``), so a shipped pipeline can
point at ``demo/`` by default and elsewhere in production. Relative paths are
relative to the working directory the command runs in.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from extractor.model.predict import DEFAULT_BATCH_TOKENS

SOURCE_TYPES = ("parquet", "sql")
SINK_TYPES = ("csv", "parquet")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class PipelineError(ValueError):
    """The pipeline file is missing something or contradicts itself."""


@dataclass(frozen=True)
class ColumnMap:
    """Source column names for each document attribute (gold columns are optional)."""

    id: str = "doc_id"
    text: str = "text"
    updated_at: Optional[str] = None
    gold_entities: Optional[str] = None  # JSON list of {"start", "end", "label"} (or a Parquet list of structs)
    gold_fields: Optional[str] = None  # JSON object {"education": ..., ...}

    def wanted(self) -> list[str]:
        return [c for c in (self.id, self.text, self.updated_at, self.gold_entities, self.gold_fields) if c]


@dataclass(frozen=True)
class SourceConfig:
    type: str
    path: Optional[str] = None  # parquet: a file or a directory of *.parquet
    url: Optional[str] = None  # sql: SQLAlchemy URL
    table: Optional[str] = None  # sql: a table name ...
    query: Optional[str] = None  # ... or a SELECT
    columns: ColumnMap = field(default_factory=ColumnMap)


@dataclass(frozen=True)
class SinkConfig:
    type: str
    path: str


@dataclass(frozen=True)
class ReportConfig:
    directory: Optional[str] = None  # where report-*.json/.csv/.md/.html go; None: no report
    max_f1_drop: float = 0.02  # a field F1 falling more than this against the previous report fails the run
    examples: int = 10  # misses / false positives shown per field
    # A report on fewer documents (a quiet night's few changed ones) is written but neither compared
    # nor made the baseline: its F1 says too little to raise an alarm on.
    min_docs: int = 50


@dataclass(frozen=True)
class RayConfig:
    """How ``extractor run --engine ray`` runs the pipeline on a Ray cluster (ignored by the local engine)."""

    address: Optional[str] = None  # ray.init(address=...); --address wins; None: RAY_ADDRESS or a new local instance
    # Actors in the prediction pool, each holding one model: (min, max); None: as many as the cluster's CPUs
    # allow, one CPU left for reading.
    concurrency: Optional[tuple[int, int]] = None
    batch_size: int = 256  # documents per call of an actor
    num_cpus_per_actor: float = 1.0  # Ray CPUs reserved per actor; its torch threads: max(1, int(this))


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    source: SourceConfig
    model: str
    schema: Optional[str]  # rules applied to the spans; default: the model directory's schema
    database: str  # SQLAlchemy URL: runs, ledger, field values, quarantine
    sinks: tuple[SinkConfig, ...] = ()
    report: ReportConfig = field(default_factory=ReportConfig)
    batch_size: int = 256  # documents per committed batch (one transaction each)
    predict_batch_size: int = 32  # windows per forward pass, at most
    predict_batch_tokens: int = DEFAULT_BATCH_TOKENS  # padded tokens per forward pass, at most (a longer window goes alone)
    max_chars: int = 200_000  # longer texts are quarantined as oversize
    max_span_len: Optional[int] = None
    threshold: float = 0.0  # span score above which a span is an entity (GlobalPointer's natural cut is 0)
    max_tokens: Optional[int] = None  # window settings; default: the model's own
    stride: Optional[int] = None
    runtime: str = "torch"  # torch | torch-int8 | onnx | onnx-int8 (see extractor/model/runtime.py)
    ray: RayConfig = field(default_factory=RayConfig)
    path: Optional[str] = None

    def predictor_options(self) -> dict:
        """Keyword arguments for ``Predictor``: every engine (local, Ray) builds its predictor from these."""
        return {"batch_size": self.predict_batch_size, "batch_tokens": self.predict_batch_tokens,
                "max_span_len": self.max_span_len,
                "threshold": self.threshold, "max_tokens": self.max_tokens, "stride": self.stride,
                "runtime": self.runtime}


def expand(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: variables.get(m.group(1), m.group(2) if m.group(2) is not None else m.group(0)),
                        value)
    if isinstance(value, dict):
        return {k: expand(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, variables) for v in value]
    return value


def apply_overrides(raw: dict, overrides: Mapping[str, Any]) -> dict:
    """``{"source.url": "postgresql://..."}`` sets raw["source"]["url"]; values are parsed as YAML."""
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node = raw
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[keys[-1]] = yaml.safe_load(value) if isinstance(value, str) else value
    return raw


def load_pipeline(path: str | Path, overrides: Optional[Mapping[str, Any]] = None,
                  variables: Optional[Mapping[str, str]] = None) -> PipelineConfig:
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: no such pipeline file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping at the top level")
    raw = apply_overrides(raw, overrides or {})
    env = dict(os.environ)
    env.update(variables or {})
    raw = expand(raw, env)
    return parse_pipeline(raw, str(path))


def parse_pipeline(raw: dict, where: str) -> PipelineConfig:
    unknown = set(raw) - {"name", "source", "model", "schema", "database", "sinks", "report", "batch_size",
                          "predict_batch_size", "predict_batch_tokens", "max_chars", "max_span_len", "threshold", "window", "runtime", "ray"}
    if unknown:
        raise PipelineError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("source", "model", "database"):
        if not raw.get(key):
            raise PipelineError(f"{where}: missing required key {key!r}")
    leftover = [m.group(0) for m in _VAR.finditer(yaml.safe_dump(raw, allow_unicode=True))]
    if leftover:
        raise PipelineError(f"{where}: unset variables {sorted(set(leftover))} (set them in the environment)")
    src = raw["source"]
    if not isinstance(src, dict) or src.get("type") not in SOURCE_TYPES:
        raise PipelineError(f"{where}: source.type must be one of {SOURCE_TYPES}")
    cols = src.get("columns") or {}
    extra = set(cols) - {"id", "text", "updated_at", "gold_entities", "gold_fields"}
    if extra:
        raise PipelineError(f"{where}: source.columns has unknown keys {sorted(extra)}")
    columns = ColumnMap(**{k: str(v) for k, v in cols.items() if v})
    if src["type"] == "parquet":
        if not src.get("path"):
            raise PipelineError(f"{where}: a parquet source needs 'path' (a file or a directory)")
        source = SourceConfig("parquet", path=str(src["path"]), columns=columns)
    else:
        if not src.get("url") or bool(src.get("table")) == bool(src.get("query")):
            raise PipelineError(f"{where}: an sql source needs 'url' and exactly one of 'table' or 'query'")
        source = SourceConfig("sql", url=str(src["url"]), table=src.get("table"), query=src.get("query"),
                              columns=columns)
    sinks = []
    for i, s in enumerate(raw.get("sinks") or []):
        if not isinstance(s, dict) or s.get("type") not in SINK_TYPES or not s.get("path"):
            raise PipelineError(f"{where}: sinks[{i}] needs type ({'/'.join(SINK_TYPES)}) and path")
        sinks.append(SinkConfig(s["type"], str(s["path"])))
    rep = raw.get("report") or {}
    report = ReportConfig(rep.get("directory"), float(rep.get("max_f1_drop", 0.02)), int(rep.get("examples", 10)),
                          int(rep.get("min_docs", 50)))
    window = raw.get("window") or {}
    cfg = PipelineConfig(
        name=str(raw.get("name") or Path(where).stem), source=source, model=str(raw["model"]),
        schema=str(raw["schema"]) if raw.get("schema") else None, database=str(raw["database"]),
        sinks=tuple(sinks), report=report, batch_size=_positive(raw, "batch_size", 256, where),
        predict_batch_size=_positive(raw, "predict_batch_size", 32, where),
        predict_batch_tokens=_positive(raw, "predict_batch_tokens", DEFAULT_BATCH_TOKENS, where),
        max_chars=_positive(raw, "max_chars", 200_000, where),
        max_span_len=raw.get("max_span_len"), threshold=float(raw.get("threshold", 0.0)),
        max_tokens=window.get("max_tokens"), stride=window.get("stride"), runtime=str(raw.get("runtime", "torch")),
        ray=parse_ray(raw.get("ray"), where), path=where,
    )
    from extractor.model.runtime import RUNTIMES

    if cfg.runtime not in RUNTIMES:
        raise PipelineError(f"{where}: runtime must be one of {', '.join(RUNTIMES)}, got {cfg.runtime!r}")
    if cfg.max_tokens is not None and cfg.stride is not None and not 0 < cfg.stride < cfg.max_tokens:
        raise PipelineError(f"{where}: window.stride must be between 0 and window.max_tokens")
    return cfg


def parse_ray(raw: Any, where: str) -> RayConfig:
    if raw is None:
        return RayConfig()
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: ray must be a mapping (address, concurrency, batch_size, num_cpus_per_actor)")
    unknown = set(raw) - {"address", "concurrency", "batch_size", "num_cpus_per_actor"}
    if unknown:
        raise PipelineError(f"{where}: ray has unknown keys {sorted(unknown)}; it takes address, concurrency, "
                            "batch_size and num_cpus_per_actor")
    address = raw.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise PipelineError(f"{where}: ray.address must be a string such as 'auto' or 'ray://head:10001', "
                            f"got {address!r}")
    concurrency = raw.get("concurrency")
    if concurrency in (None, "auto"):
        pool = None
    elif _is_int(concurrency) and concurrency >= 1:
        pool = (concurrency, concurrency)
    elif (isinstance(concurrency, list) and len(concurrency) == 2 and all(_is_int(c) for c in concurrency)
          and 1 <= concurrency[0] <= concurrency[1]):
        pool = (concurrency[0], concurrency[1])
    else:
        raise PipelineError(f"{where}: ray.concurrency must be a positive integer (a fixed pool of actors), "
                            f"[min, max] with 1 <= min <= max (an autoscaling pool) or 'auto', got {concurrency!r}")
    cpus = raw.get("num_cpus_per_actor", 1)
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not cpus > 0:
        raise PipelineError(f"{where}: ray.num_cpus_per_actor must be a number above 0 (e.g. 1, 4 or 0.5), "
                            f"got {cpus!r}")
    batch_size = raw.get("batch_size", 256)
    if not _is_int(batch_size) or batch_size < 1:
        raise PipelineError(f"{where}: ray.batch_size must be a positive integer, got {batch_size!r}")
    return RayConfig(address=address, concurrency=pool, batch_size=batch_size, num_cpus_per_actor=float(cpus))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(raw: dict, key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PipelineError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value
