"""Pipeline definitions: a YAML file says where documents come from, which model and rules
apply, where results go and how the report is kept. This module only parses and checks it.

Values may use ``${NAME}`` or ``${NAME:-default}``, filled from the environment
(or the ``variables`` given to ``load_pipeline``), so a shipped pipeline can
point at ``demo/`` by default and elsewhere in production. Relative paths are
relative to the working directory the command runs in.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, get_args, get_type_hints

import yaml

from extractor.model.options import RUNTIMES, PredictOptions, option_problem
from extractor.nightly.lease import LeaseConfig, parse_lease

log = logging.getLogger(__name__)

SOURCE_TYPES = ("parquet", "sql")
SINK_TYPES = ("csv", "parquet")
MAX_NAME_CHARS = 200
PREDICT_KEYS = tuple(f.name for f in fields(PredictOptions))
# Each key's type without Optional: what a value must be (checked by extractor.model.predict.option_problem).
PREDICT_TYPES = {name: next((t for t in get_args(hint) if t is not type(None)), hint)
                 for name, hint in get_type_hints(PredictOptions).items()}
# Keys of pipeline files written before the ``predict:`` section, and where each now lives. Still read,
# with one warning line, so old files keep working.
DEPRECATED_KEYS = {
    "batch_size": "docs_per_commit",
    "predict_batch_size": "predict.windows_per_batch",
    "predict_batch_tokens": "predict.tokens_per_batch",
    "max_span_len": "predict.max_span_len",
    "threshold": "predict.threshold",
    "runtime": "predict.runtime",
    "window.max_tokens": "predict.window_tokens",
    "window.stride": "predict.window_stride",
    "ray.batch_size": "ray.docs_per_call",
}
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
    docs_per_call: int = 256  # documents per call of an actor
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
    docs_per_commit: int = 256  # documents per committed batch (one transaction each)
    max_chars: int = 200_000  # longer texts are quarantined as oversize
    predict: PredictOptions = field(default_factory=PredictOptions)  # every engine predicts with these
    ray: RayConfig = field(default_factory=RayConfig)
    path: Optional[str] = None
    # The industry resolver for employer-derived fields (a directory from `extractor industry fit`), or
    # "none" for keyword rules only; None: what the schema names. Part of the rules version.
    industry: Optional[str] = None
    lease: LeaseConfig = field(default_factory=LeaseConfig)  # one run of the pipeline at a time (lease.py)


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
        try:
            node[keys[-1]] = yaml.safe_load(value) if isinstance(value, str) else value
        except yaml.YAMLError as exc:
            raise PipelineError(f"--set {dotted}: not a valid value ({' '.join(str(exc).split())})") from None
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
    renamed = {DEPRECATED_KEYS.get(key, key): value for key, value in (overrides or {}).items()}
    raw = apply_overrides(raw, renamed)
    env = dict(os.environ)
    env.update(variables or {})
    raw = expand(raw, env)
    return parse_pipeline(raw, str(path), [key for key in overrides or {} if key in DEPRECATED_KEYS])


def move_deprecated_keys(raw: dict, where: str) -> list[str]:
    """Move the keys of old pipeline files (``DEPRECATED_KEYS``) in ``raw`` to their new places;
    returns the old keys found."""
    found = []
    for old, new in DEPRECATED_KEYS.items():
        *old_parents, old_key = old.split(".")
        node = raw
        for parent in old_parents:
            node = node.get(parent) if isinstance(node.get(parent), dict) else {}
        if old_key not in node:
            continue
        value = node.pop(old_key)
        *new_parents, new_key = new.split(".")
        target = raw
        for parent in new_parents:
            if target.get(parent) is None:
                target[parent] = {}
            if not isinstance(target[parent], dict):
                raise PipelineError(f"{where}: {parent} must be a mapping")
            target = target[parent]
        if new_key in target:
            raise PipelineError(f"{where}: {old} and {new} both set; keep {new} ({old} is its old name)")
        target[new_key] = value
        found.append(old)
    window = raw.get("window", {})
    if window:  # what is left after moving max_tokens and stride
        raise PipelineError(f"{where}: window has unknown keys {sorted(window)}" if isinstance(window, dict)
                            else f"{where}: window must be a mapping, got {window!r}")
    raw.pop("window", None)
    return found


def warn_deprecated(old_keys: Sequence[str], where: str) -> None:
    if old_keys:
        moves = ", ".join(f"{old} -> {DEPRECATED_KEYS[old]}" for old in dict.fromkeys(old_keys))
        log.warning("%s: deprecated pipeline keys, use the new names (pipelines/README.md): %s", where, moves)


def parse_pipeline(raw: dict, where: str, deprecated_overrides: Sequence[str] = ()) -> PipelineConfig:
    """``raw``: the pipeline file's mapping; ``deprecated_overrides``: old key names ``--set`` used, already
    renamed by ``load_pipeline``, named in the same one deprecation warning as the file's."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}  # the caller's stays as it was
    warn_deprecated([*deprecated_overrides, *move_deprecated_keys(raw, where)], where)
    unknown = set(raw) - {"name", "source", "model", "schema", "database", "sinks", "report", "docs_per_commit",
                          "max_chars", "predict", "ray", "industry", "lease"}
    if unknown:
        raise PipelineError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("source", "model", "database"):
        if not raw.get(key):
            raise PipelineError(f"{where}: missing required key {key!r}")
    name = str(raw.get("name") or Path(where).stem)
    if len(name) > MAX_NAME_CHARS or "\x00" in name:  # extractor_runs.pipeline is String(200)
        raise PipelineError(f"{where}: name must be at most {MAX_NAME_CHARS} characters without NUL, "
                            f"got {len(name)} characters")
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
    sinks = parse_sinks(raw.get("sinks"), where)
    report = parse_report(raw.get("report"), where)
    return PipelineConfig(
        name=name, source=source, model=str(raw["model"]),
        schema=str(raw["schema"]) if raw.get("schema") else None, database=str(raw["database"]),
        sinks=tuple(sinks), report=report, docs_per_commit=_positive(raw, "docs_per_commit", 256, where),
        max_chars=_positive(raw, "max_chars", 200_000, where),
        predict=parse_predict(raw.get("predict"), where), ray=parse_ray(raw.get("ray"), where), path=where,
        industry=_industry(raw.get("industry"), where), lease=parse_lease(raw.get("lease"), where),
    )


def parse_sinks(raw: Any, where: str) -> list[SinkConfig]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PipelineError(f"{where}: sinks must be a list of {{type, path}} entries, got {raw!r}")
    sinks = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or s.get("type") not in SINK_TYPES or not s.get("path"):
            raise PipelineError(f"{where}: sinks[{i}] needs type ({'/'.join(SINK_TYPES)}) and path")
        unknown = sorted(set(s) - {"type", "path"})
        if unknown:
            raise PipelineError(f"{where}: sinks[{i}] has unknown keys {unknown}; it takes type and path")
        sinks.append(SinkConfig(s["type"], str(s["path"])))
    return sinks


def parse_report(raw: Any, where: str) -> ReportConfig:
    """The ``report:`` section: exactly the fields of ``ReportConfig``, each of its type."""
    if raw is None:
        return ReportConfig()
    keys = [f.name for f in fields(ReportConfig)]
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: report must be a mapping (keys: {', '.join(keys)})")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise PipelineError(f"{where}: report has unknown keys {unknown}; it takes {', '.join(keys)}")
    directory = raw.get("directory")
    if directory is not None and (not isinstance(directory, str) or not directory.strip()):
        raise PipelineError(f"{where}: report.directory must be a directory path, got {directory!r}")
    drop = _number_text(raw.get("max_f1_drop", 0.02))
    if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 <= drop <= 1:
        raise PipelineError(f"{where}: report.max_f1_drop must be a number from 0 to 1, got {drop!r}")
    for key in ("examples", "min_docs"):
        value = raw.get(key, getattr(ReportConfig, key))
        if not _is_int(value) or value < 0:
            raise PipelineError(f"{where}: report.{key} must be a whole number of at least 0, got {value!r}")
    return ReportConfig(directory, float(drop), raw.get("examples", 10), raw.get("min_docs", 50))


def _industry(value: Any, where: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PipelineError(f"{where}: industry must be a resolver directory or 'none', got {value!r}")
    return value


def parse_predict(raw: Any, where: str) -> PredictOptions:
    """The ``predict:`` section: exactly the fields of ``PredictOptions``, each checked against its type."""
    if raw is None:
        return PredictOptions()
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: predict must be a mapping (keys: {', '.join(PREDICT_KEYS)})")
    unknown = sorted(set(raw) - set(PREDICT_KEYS))
    if unknown:
        raise PipelineError(f"{where}: predict has unknown keys {unknown}; it takes {', '.join(PREDICT_KEYS)}")
    raw = {key: _number_text(value) if PREDICT_TYPES[key] is float else value for key, value in raw.items()}
    for key, value in raw.items():
        problem = option_problem(key, value)
        if problem:
            raise PipelineError(f"{where}: predict.{key} {problem}")
    if raw.get("runtime", "torch") not in RUNTIMES:
        raise PipelineError(f"{where}: predict.runtime must be one of {', '.join(RUNTIMES)}, got {raw['runtime']!r}")
    try:
        return PredictOptions(**raw)
    except ValueError as exc:  # settings that contradict each other
        raise PipelineError(f"{where}: predict.{exc}") from None


def parse_ray(raw: Any, where: str) -> RayConfig:
    if raw is None:
        return RayConfig()
    if not isinstance(raw, dict):
        raise PipelineError(f"{where}: ray must be a mapping (address, concurrency, docs_per_call, "
                            "num_cpus_per_actor)")
    unknown = set(raw) - {"address", "concurrency", "docs_per_call", "num_cpus_per_actor"}
    if unknown:
        raise PipelineError(f"{where}: ray has unknown keys {sorted(unknown)}; it takes address, concurrency, "
                            "docs_per_call and num_cpus_per_actor")
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
    docs_per_call = raw.get("docs_per_call", 256)
    if not _is_int(docs_per_call) or docs_per_call < 1:
        raise PipelineError(f"{where}: ray.docs_per_call must be a positive integer, got {docs_per_call!r}")
    return RayConfig(address=address, concurrency=pool, docs_per_call=docs_per_call, num_cpus_per_actor=float(cpus))


def _number_text(value: Any) -> Any:
    """YAML 1.1 reads ``1e9`` (no dot) as a string; a number field takes it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(raw: dict, key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PipelineError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value
