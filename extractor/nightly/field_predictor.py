"""The one stateful predictor every engine uses: (doc_id, text) rows in, field values and spans out.

``FieldPredictor(model_dir, options, settings)`` loads the model and the rules once, in ``__init__``;
``__call__(batch)`` takes a pyarrow Table or a pandas DataFrame and returns the same kind, one row
per input row, in order. The local runner calls ``predict_documents`` (what ``__call__`` wraps) on
each batch; the Ray engine hands the class itself to ``Dataset.map_batches``, so each actor of the
pool loads the model once and the two engines cannot drift apart.

Output columns (``output_columns``):

- ``doc_id``
- the wide table's columns (``extractor.nightly.outputs.wide_columns``): per field its value(s) (``select:
  all`` values joined by ``|``), ``<field>_confidence`` and, for fields whose rules give codes,
  ``<field>_code``
- ``field_values``: list of struct {field, ordinal, value, code, raw, start, end, score, rule, confidence}, the
  chosen values with the span each came from (the rows the runner stores in
  ``extractor_field_values``)
- ``entities``: list of struct {start, end, label, text, score}, every span the model predicted
- ``n_windows``: encoder windows the document needed
- ``error``: null, or why the row was not predicted (``empty_text: text is empty ...``): a bad row
  gets an error and empty values, never an exception that would stop a whole batch job
- ``text`` when ``settings.keep_text``; every other input column is carried through unchanged.

Both arguments are frozen dataclasses that pickle, so they travel to Ray actors as they are:
``options`` is the ``PredictOptions`` every engine predicts with (a pipeline's ``predict:`` section;
``threads`` also sets this process's torch threads: a Ray actor's CPU share), ``settings`` the
``FieldPredictorSettings`` (rules, record limit, expected versions, ``keep_text``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from extractor.data.documents import Document, Entity
from extractor.model.directory import LoadedModel, load_model
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.windows import encode_document, make_windows
from extractor.nightly.outputs import wide_arrow_schema, wide_columns, wide_row
from extractor.nightly.records import Quarantined, check_record
from extractor.nightly.sources import SourceRecord
from extractor.rules.fields import FieldValue, extract_fields
from extractor.rules.schema import Schema

DEFAULT_MAX_CHARS = 200_000


@dataclass(frozen=True)
class FieldPredictorSettings:
    """What ``FieldPredictor`` needs besides the ``PredictOptions``."""

    schema: Optional[str] = None  # a rules file; default: the model directory's own schema
    # The rules' text (``Schema.source``, ``extends`` already merged), so workers need no schema file.
    schema_yaml: Optional[str] = None
    max_chars: int = DEFAULT_MAX_CHARS  # longer texts get an ``oversize`` error, as in the runner
    # What the caller expects: a model directory or schema that changed under a running job is an
    # error rather than silently different results.
    model_version: Optional[str] = None
    rules_version: Optional[str] = None
    keep_text: bool = False  # also return the ``text`` column
    # The industry resolver directory for employer-derived fields, ``none`` for keyword rules only, or
    # None for what the schema names; its content hash is part of the rules version.
    industry: Optional[str] = None


class RulesError(ValueError):
    """The rules use labels the model does not predict."""

    def __init__(self, message: str, unknown: Sequence[str] = (), labels: Sequence[str] = ()):
        super().__init__(message)
        self.unknown, self.labels = list(unknown), list(labels)


def load_rules(loaded: LoadedModel, schema: Optional[str] = None, schema_yaml: Optional[str] = None,
               industry: Optional[str] = None) -> Schema:
    """The rules to apply to ``loaded``'s spans: a schema file, its text, or the model's own schema; with
    ``industry``, its employer fields use that resolver (``none``: keyword rules only)."""
    if schema_yaml is not None:
        rules = Schema.from_yaml(schema_yaml, schema or "<schema>")
    elif schema:
        rules = Schema.load(schema)
    else:
        rules = loaded.schema
    if industry is not None:
        rules = rules.with_industry(industry)
    used = {lab for spec in rules.fields
            for lab in spec.labels + (spec.derive.labels if spec.derive else ())
            + (spec.employer.labels if spec.employer else ())}
    unknown = sorted(used - set(loaded.labels))
    if unknown:
        raise RulesError(f"schema {schema} uses labels {unknown} that model {loaded.directory} does not predict "
                         f"(it predicts {loaded.labels})", unknown, loaded.labels)
    return rules


@dataclass
class Prediction:
    """One document's result: every predicted span, the chosen field values, the windows it took."""

    doc: Document
    entities: list[Entity]
    fields: dict[str, list[FieldValue]]
    n_windows: int


class FieldPredictor:
    """Stateful: the model and rules load once per instance (once per Ray actor)."""

    def __init__(self, model_dir: str, options: PredictOptions = PredictOptions(),
                 settings: FieldPredictorSettings = FieldPredictorSettings()):
        if options.threads:
            import torch

            torch.set_num_threads(options.threads)
        self.model_dir = str(model_dir)
        from extractor.model.export import prepare_runtime

        # The engines prepare it on the driver first; here it only finds the export current.
        prepare_runtime(model_dir, options.runtime)
        self.loaded = load_model(model_dir)
        self.schema = load_rules(self.loaded, settings.schema, settings.schema_yaml, settings.industry)
        for key, actual in (("model_version", self.loaded.version), ("rules_version", self.schema.rules_version)):
            expected = getattr(settings, key)
            if expected and expected != actual:
                raise ValueError(f"{model_dir}: expected {key} {expected}, found {actual} (did the model directory "
                                 "or the rules change while the job was running?)")
        self.max_chars = settings.max_chars
        self.keep_text = settings.keep_text
        self.predictor = Predictor(self.loaded, options)
        self._arrow_schema = None

    @property
    def model_version(self) -> str:
        return self.loaded.version

    @property
    def rules_version(self) -> str:
        return self.schema.rules_version

    # ------------------------------------------------------------ documents

    def predict_documents(self, docs: Sequence[Document]) -> list[Prediction]:
        """Spans, field values and window counts for checked documents, in input order."""
        if not docs:
            return []
        entities = self.predictor.predict_chunk(docs)
        tok, p = self.loaded.tokenizer, self.predictor
        out = []
        for doc, ents in zip(docs, entities):
            n_windows = len(make_windows(0, encode_document(doc, tok), tok, p.max_tokens, p.stride))
            out.append(Prediction(doc, ents, extract_fields(doc.text, ents, self.schema), n_windows))
        return out

    # ------------------------------------------------------------ tables

    def output_columns(self) -> list[str]:
        return [*wide_columns(self.schema), "field_values", "entities", "n_windows", "error"] + \
            (["text"] if self.keep_text else [])

    def arrow_schema(self):
        import pyarrow as pa

        if self._arrow_schema is None:
            value = pa.struct([("field", pa.string()), ("ordinal", pa.int64()), ("value", pa.string()),
                               ("code", pa.string()), ("raw", pa.string()), ("start", pa.int64()),
                               ("end", pa.int64()), ("score", pa.float64()), ("rule", pa.string()),
                                ("confidence", pa.float64())])
            entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                                ("text", pa.string()), ("score", pa.float64())])
            fields = list(wide_arrow_schema(self.schema)) + [
                pa.field("field_values", pa.list_(value)), pa.field("entities", pa.list_(entity)),
                pa.field("n_windows", pa.int64()), pa.field("error", pa.string())]
            if self.keep_text:
                fields.append(pa.field("text", pa.string()))
            self._arrow_schema = pa.schema(fields)
        return self._arrow_schema

    def __call__(self, batch):
        """A pyarrow Table or pandas DataFrame with ``doc_id`` and ``text`` in; the same kind out."""
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            return self.predict_table(batch)
        import pandas as pd

        if isinstance(batch, pd.DataFrame):
            return self.predict_table(pa.Table.from_pandas(batch, preserve_index=False)).to_pandas()
        raise TypeError(f"FieldPredictor takes a pyarrow Table or a pandas DataFrame, not {type(batch).__name__}")

    def predict_table(self, table):
        import pyarrow as pa

        missing = [c for c in ("doc_id", "text") if c not in table.column_names]
        if missing:
            raise ValueError(f"FieldPredictor needs columns doc_id and text; missing {missing} "
                             f"(it has {table.column_names})")
        produced = set(self.output_columns()) | {"text"}
        carried = [c for c in table.column_names if c not in ("doc_id", "text")]
        clash = sorted(set(carried) & produced)
        if clash:
            raise ValueError(f"input columns {clash} clash with FieldPredictor's output columns; rename them")
        checked = [check_record(SourceRecord(i, doc_id, text), self.max_chars, False) for i, (doc_id, text)
                   in enumerate(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()))]
        docs = [c for c in checked if isinstance(c, Document)]
        predictions = iter(self.predict_documents(docs))
        rows = [self._row(next(predictions)) if isinstance(c, Document) else self._error_row(c) for c in checked]
        out = pa.Table.from_pylist(rows, schema=self.arrow_schema())
        for name in carried:
            out = out.append_column(table.schema.field(name), table.column(name))
        return out

    def _row(self, p: Prediction) -> dict:
        row = wide_row(p.doc.doc_id, p.fields, self.schema)
        row["field_values"] = [
            {"field": name, "ordinal": i, "value": v.value, "code": v.code, "raw": v.raw, "start": v.start,
             "end": v.end, "score": None if v.score is None else float(v.score), "rule": v.rule,
             "confidence": None if v.confidence is None else float(v.confidence)}
            for name, values in p.fields.items() for i, v in enumerate(values)]
        row["entities"] = [{"start": e.start, "end": e.end, "label": e.label, "text": p.doc.text[e.start:e.end],
                            "score": None if e.score is None else float(e.score)} for e in p.entities]
        row["n_windows"] = p.n_windows
        row["error"] = None
        if self.keep_text:
            row["text"] = p.doc.text
        return row

    def _error_row(self, q: Quarantined) -> dict:
        row = wide_row(q.doc_id, {}, self.schema)
        row.update(field_values=[], entities=[], n_windows=0, error=f"{q.reason}: {q.detail}")
        if self.keep_text:
            row["text"] = None
        return row


def field_values_from_rows(rows: Sequence[dict]) -> dict[str, list[FieldValue]]:
    """``field_values`` struct rows (in ordinal order per field) back into ``FieldValue`` lists."""
    out: dict[str, list[FieldValue]] = {}
    for r in sorted(rows, key=lambda r: r["ordinal"]):
        out.setdefault(r["field"], []).append(FieldValue(r["field"], r["value"], r["raw"], r["start"], r["end"],
                                                         r["score"], r["rule"], r["code"], r.get("confidence")))
    return out


def entities_from_rows(rows: Sequence[dict]) -> list[Entity]:
    return [Entity(r["start"], r["end"], r["label"], r["score"]) for r in rows]


def field_predictor_settings(cfg, schema: Optional[Schema] = None, **changes: Any) -> FieldPredictorSettings:
    """The ``FieldPredictor`` settings for pipeline ``cfg``: its rules and record limit, then ``changes``.
    With ``schema``, the rules travel as text (``schema_yaml``) and their version is checked."""
    settings = FieldPredictorSettings(schema=cfg.schema, max_chars=cfg.max_chars, industry=cfg.industry)
    if schema is not None:
        settings = replace(settings, schema_yaml=schema.source, rules_version=schema.rules_version,
                           schema=str(Path(cfg.schema)) if cfg.schema else None)
    return replace(settings, **changes)
