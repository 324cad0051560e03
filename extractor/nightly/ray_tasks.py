"""What the Ray engine runs in Ray tasks, on the workers: the record checks and hashing of the plan pass,
and the selection of planned documents of the predict pass.

Apart from the driver's code (``ray_engine``) because Ray ships these functions to every worker by
reference: a worker imports this module and what it needs to check records, not the driver's
database and run bookkeeping.
"""
from __future__ import annotations

import hashlib
import json
from typing import Iterator

from extractor.data.documents import Document
from extractor.nightly.records import Quarantined, check_record, content_hash, preview
from extractor.nightly.sources import SourceRecord

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


def plan_batch(table, columns: dict, max_chars: int, gold_configured: bool, labels=None):
    """Ray task: check and hash every record; small rows out, in input order (the text stays behind)."""
    import pyarrow as pa

    rows = []
    for rec in _records(table, columns):
        checked = check_record(rec, max_chars, gold_configured, labels)
        if isinstance(checked, Quarantined):
            rows.append({"doc_id": checked.doc_id, "reason": checked.reason, "detail": checked.detail,
                         "preview": checked.preview, "content_hash": None})
        else:  # the preview is for the quarantine row, should the driver find the doc_id a duplicate
            rows.append({"doc_id": checked.doc_id, "reason": None, "detail": None, "preview": preview(checked.text),
                         "content_hash": content_hash(checked.text)})
    return pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in PLAN_COLUMNS]))


def select_planned(table, keys: list, columns: dict, max_chars: int, gold_configured: bool,
                   labels=None):
    """Ray task: the planned documents of a batch as FieldPredictor input (doc_id, text) plus what the
    driver needs to commit them (_content_hash, _updated_at, and the gold labels for the report)."""
    import numpy as np
    import pyarrow as pa
    import ray

    planned = ray.get(keys[0])  # sorted uint64, shared read-only through the object store
    rows = []
    for rec in _records(table, columns):
        doc = check_record(rec, max_chars, gold_configured, labels)
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
