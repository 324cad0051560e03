"""Prediction files: JSONL or Parquet (one row per document) or CSV (one row per span); and the
runner's wide table (one row per document, one column per field)."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from extractor.data.documents import Document, Entity
from extractor.rules.fields import extract_fields, joined
from extractor.rules.schema import Schema

PARQUET_BATCH = 1024


# ---------------------------------------------------------------- the wide table

def wide_columns(schema: Schema) -> list[str]:
    """``doc_id``, then per field: its value(s), ``<field>_confidence`` and, when its rules give codes,
    ``<field>_code``."""
    cols = ["doc_id"]
    for spec in schema.fields:
        cols += [spec.name, f"{spec.name}_confidence"] + ([f"{spec.name}_code"] if spec.codes else [])
    return cols


def wide_arrow_schema(schema: Schema):
    import pyarrow as pa

    return pa.schema([(c, pa.float64() if c.endswith("_confidence") else pa.string()) for c in wide_columns(schema)])


def wide_row(doc_id: Optional[str], values: Mapping[str, Sequence[Any]], schema: Schema) -> dict:
    """One document's wide row from its chosen values per field, in order (anything with ``value``,
    ``code``, ``score`` and ``confidence``: a ``FieldValue`` or a database row)."""
    out: dict[str, Any] = {"doc_id": doc_id}
    for spec in schema.fields:
        vals = values.get(spec.name) or ()
        out[spec.name] = "|".join(v.value for v in vals) if vals else None
        # A value's confidence is its rule's where the rule has one (an industry resolver's probability),
        # else the model's span score; a multi-valued field is only as sure as its least sure value.
        scores = [c for c in (_confidence(v) for v in vals) if c is not None]
        out[f"{spec.name}_confidence"] = round(min(scores), 4) if scores else None
        if spec.codes:
            out[f"{spec.name}_code"] = "|".join(v.code or "" for v in vals) if vals else None
    return out


def _confidence(value: Any) -> Optional[float]:
    rule_confidence = getattr(value, "confidence", None)
    return rule_confidence if rule_confidence is not None else value.score


def prediction_record(doc: Document, spans: list[Entity], schema: Schema) -> dict:
    """One document's JSON record: spans, field strings, each value's rule and confidence, and why an
    employer-derived field stayed empty (``notes``, only when one did)."""
    notes: dict[str, str] = {}
    chosen = extract_fields(doc.text, spans, schema, notes)
    record = {
        "doc_id": doc.doc_id,
        "entities": [e.to_dict(doc.text) for e in spans],
        "fields": {name: joined(values) for name, values in chosen.items()},
        "values": [{"field": v.field, "value": v.value, "code": v.code, "raw": v.raw, "start": v.start,
                    "end": v.end, "rule": v.rule, "confidence": v.confidence}
                   for values in chosen.values() for v in values],
    }
    if notes:
        record["notes"] = notes
    return record


def write_predictions(stream: Iterable[tuple[Document, list[Entity]]], schema: Schema, path: str | Path) -> int:
    """Stream predictions to ``path``; the extension picks the format. Returns documents written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    n = 0
    if suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for doc, spans in stream:
                fh.write(json.dumps(prediction_record(doc, spans, schema), ensure_ascii=False) + "\n")
                n += 1
    elif suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["doc_id", "label", "start", "end", "text", "score"])
            for doc, spans in stream:
                for e in spans:
                    writer.writerow([doc.doc_id, e.label, e.start, e.end, doc.text[e.start : e.end],
                                     f"{e.score:.6f}" if e.score is not None else ""])
                n += 1
    elif suffix == ".parquet":
        n = _write_parquet(stream, schema, path)
    else:
        raise ValueError(f"{path}: predictions are written as .jsonl, .parquet or .csv, not {suffix!r}")
    return n


def _write_parquet(stream: Iterable[tuple[Document, list[Entity]]], schema: Schema, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                        ("text", pa.string()), ("score", pa.float64())])
    arrow_schema = pa.schema([("doc_id", pa.string()), ("entities", pa.list_(entity))]
                             + [(name, pa.string()) for name in schema.field_names])
    n, rows = 0, []
    with pq.ParquetWriter(path, arrow_schema) as writer:
        for doc, spans in stream:
            rec = prediction_record(doc, spans, schema)
            rows.append({"doc_id": rec["doc_id"], "entities": rec["entities"], **rec["fields"]})
            n += 1
            if len(rows) >= PARQUET_BATCH:
                writer.write_table(pa.Table.from_pylist(rows, schema=arrow_schema))
                rows = []
        if rows or n == 0:
            writer.write_table(pa.Table.from_pylist(rows, schema=arrow_schema))
    return n
