"""Record checks: a raw source record becomes a ``Document`` or a ``Quarantined`` reason.

Shared by every engine (the local runner checks records in its own process, the Ray
engine in Ray tasks), so a bad record is quarantined for the same reason whichever
engine reads it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional

from extractor.data.documents import Document, DocumentError, Entity, validate
from extractor.nightly.sources import SourceRecord

PREVIEW_CHARS = 200


@dataclass
class Quarantined:
    position: int
    doc_id: Optional[str]
    reason: str
    detail: str
    preview: Optional[str] = None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def preview(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text[:PREVIEW_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


def normalize_id(doc_id: Any) -> Any:
    """Integer ids are read as their decimal string; anything else is returned as it is."""
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        return str(doc_id)
    return doc_id


def check_record(rec: SourceRecord, max_chars: int, gold_configured: bool) -> Document | Quarantined:
    """A Document, or the reason this record cannot become one."""
    doc_id = normalize_id(rec.doc_id)
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        return Quarantined(rec.position, None, "missing_id", "doc_id is null or empty", preview(rec.text))
    if not isinstance(doc_id, str):
        return Quarantined(rec.position, preview(doc_id), "bad_id",
                           f"doc_id must be a string or an integer, got {type(doc_id).__name__}", preview(rec.text))
    if len(doc_id) > 255:
        return Quarantined(rec.position, doc_id[:255], "bad_id", "doc_id is longer than 255 characters")
    text = rec.text
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            return Quarantined(rec.position, doc_id, "undecodable", f"text bytes are not UTF-8 ({exc})",
                               preview(bytes(text)))
    if text is None:
        return Quarantined(rec.position, doc_id, "null_text", "text is null")
    if not isinstance(text, str):
        return Quarantined(rec.position, doc_id, "non_string_text", f"text is a {type(text).__name__}, not a string",
                           preview(text))
    if not text.strip():
        return Quarantined(rec.position, doc_id, "empty_text", "text is empty or only whitespace", preview(text))
    if len(text) > max_chars:
        return Quarantined(rec.position, doc_id, "oversize", f"text has {len(text)} characters; max_chars is "
                           f"{max_chars}", preview(text))
    bad = next((i for i, ch in enumerate(text) if ch == "\ufffd" or "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        # U+FFFD is what a lossy decode left behind; a lone surrogate cannot be stored as UTF-8 at all.
        return Quarantined(rec.position, doc_id, "undecodable",
                           f"text has an undecodable character (U+{ord(text[bad]):04X}) at offset {bad}",
                           preview(text))
    if gold_configured:
        try:
            entities, fields = parse_gold(rec.gold_entities, rec.gold_fields)
            doc = Document(doc_id, text, entities, fields)
            validate(doc)
        except (ValueError, TypeError, KeyError, DocumentError) as exc:
            return Quarantined(rec.position, doc_id, "bad_gold", f"gold labels unusable: {exc}", preview(text))
        return doc
    return Document(doc_id, text)


def parse_gold(ents: Any, fields: Any) -> tuple[list[Entity], Optional[dict]]:
    """Gold entities and fields from JSON text or from Parquet lists/structs (already Python values)."""
    if isinstance(ents, str):
        ents = json.loads(ents)
    entities = [Entity(int(e["start"]), int(e["end"]), str(e["label"])) for e in (ents or [])]
    if isinstance(fields, str):
        fields = json.loads(fields)
    if fields is not None and not isinstance(fields, dict):
        raise ValueError("gold fields must be a JSON object")
    return entities, fields
