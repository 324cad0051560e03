"""Record checks: a raw source record becomes a ``Document`` or a ``Quarantined`` reason.

Shared by every engine (the local runner checks records in its own process, the Ray
engine in Ray tasks), so a bad record is quarantined for the same reason whichever
engine reads it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Collection, Optional

from extractor.data.documents import Document, DocumentError, Entity, validate
from extractor.nightly.sources import SourceRecord

log = logging.getLogger(__name__)

PREVIEW_CHARS = 200
MAX_ID_CHARS = 255  # extractor_processed_documents.doc_id is String(255)
MAX_UPDATED_AT_CHARS = 64  # extractor_processed_documents.updated_at is String(64)


def storable(text: str) -> str:
    """``text`` as every database can store it: PostgreSQL rejects NUL in text, and a lone surrogate
    cannot be encoded as UTF-8 at all; both become visible escapes."""
    text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass
class Quarantined:
    position: int
    doc_id: Optional[str]
    reason: str
    detail: str
    preview: Optional[str] = None

    def __post_init__(self) -> None:
        # Whatever a check found in the record, the quarantine row itself must fit its columns.
        if self.doc_id is not None:
            self.doc_id = storable(str(self.doc_id))[:MAX_ID_CHARS]
        self.detail = storable(str(self.detail))
        if self.preview is not None:
            self.preview = storable(str(self.preview))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def preview(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return storable(text[:PREVIEW_CHARS])


def normalize_id(doc_id: Any) -> Any:
    """Integer ids are read as their decimal string; anything else is returned as it is."""
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        return str(doc_id)
    return doc_id


def check_record(rec: SourceRecord, max_chars: int, gold_configured: bool,
                 labels: Optional[Collection[str]] = None) -> Document | Quarantined:
    """A Document, or the reason this record cannot become one. Total: no record makes it raise.
    ``labels``: the labels gold entities may have (None: any label but a missing one)."""
    try:
        return _check_record(rec, max_chars, gold_configured, labels)
    except Exception as exc:  # a check that did not foresee this input must cost one record, not the run
        log.debug("record %d: unexpected check failure", rec.position, exc_info=True)
        return Quarantined(rec.position, None, "unreadable", f"the record checks failed: {type(exc).__name__}")


def _check_record(rec: SourceRecord, max_chars: int, gold_configured: bool,
                  labels: Optional[Collection[str]]) -> Document | Quarantined:
    doc_id = _decoded(normalize_id(rec.doc_id))
    if isinstance(doc_id, Quarantined):
        return Quarantined(rec.position, None, "undecodable", f"doc_id {doc_id.detail}", preview(rec.text))
    problem = _id_problem(doc_id)
    if problem is not None:
        reason, detail = problem
        return Quarantined(rec.position, None if reason == "missing_id" else preview(doc_id), reason, detail,
                           preview(rec.text))
    text = _decoded(rec.text)
    if isinstance(text, Quarantined):
        return Quarantined(rec.position, doc_id, "undecodable", f"text {text.detail}", text.preview)
    problem = _text_problem(text, max_chars) or _updated_at_problem(rec.updated_at)
    if problem is not None:
        reason, detail = problem
        return Quarantined(rec.position, doc_id, reason, detail, preview(text))
    if gold_configured:
        try:
            entities, fields = parse_gold(rec.gold_entities, rec.gold_fields)
            doc = Document(doc_id, text, entities, fields)
            validate(doc, sorted(labels) if labels is not None else None)
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError, DocumentError) as exc:
            return Quarantined(rec.position, doc_id, "bad_gold", f"gold labels unusable: {_short(exc)}",
                               preview(text))
        return doc
    return Document(doc_id, text)


def _decoded(value: Any) -> Any:
    """Bytes decoded as UTF-8 (a SQLite source hands undecodable TEXT over as bytes), or a Quarantined
    that carries the decode error; anything else as it is."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        return Quarantined(0, None, "undecodable", f"bytes are not UTF-8 ({exc})", preview(bytes(value)))


def _id_problem(doc_id: Any) -> Optional[tuple[str, str]]:
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        return "missing_id", "doc_id is null or empty"
    if not isinstance(doc_id, str):
        return "bad_id", f"doc_id must be a string or an integer, got {type(doc_id).__name__}"
    if len(doc_id) > MAX_ID_CHARS:
        return "bad_id", f"doc_id has {len(doc_id)} characters; at most {MAX_ID_CHARS} fit the database"
    bad = _unstorable_at(doc_id)
    if bad is not None:
        return "bad_id", f"doc_id has an unstorable character (U+{ord(doc_id[bad]):04X}) at offset {bad}"
    return None


def _text_problem(text: Any, max_chars: int) -> Optional[tuple[str, str]]:
    if text is None:
        return "null_text", "text is null"
    if not isinstance(text, str):
        return "non_string_text", f"text is a {type(text).__name__}, not a string"
    if not text.strip():
        return "empty_text", "text is empty or only whitespace"
    if len(text) > max_chars:
        return "oversize", f"text has {len(text)} characters; max_chars is {max_chars}"
    bad = next((i for i, ch in enumerate(text) if ch == "\ufffd" or "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        # U+FFFD is what a lossy decode left behind; a lone surrogate cannot be stored as UTF-8 at all.
        return "undecodable", f"text has an undecodable character (U+{ord(text[bad]):04X}) at offset {bad}"
    if "\x00" in text:  # PostgreSQL cannot store it in the values taken from the text
        return "nul_character", f"text has a NUL character at offset {text.index(chr(0))}"
    return None


def _updated_at_problem(updated_at: Any) -> Optional[tuple[str, str]]:
    if updated_at is None:
        return None
    value = str(updated_at)
    if len(value) > MAX_UPDATED_AT_CHARS:
        return "bad_updated_at", f"updated_at has {len(value)} characters; at most {MAX_UPDATED_AT_CHARS} fit"
    bad = _unstorable_at(value)
    if bad is not None:
        return "bad_updated_at", f"updated_at has an unstorable character (U+{ord(value[bad]):04X}) at offset {bad}"
    return None


def _unstorable_at(value: str) -> Optional[int]:
    """The offset of the first character no database column can hold (NUL, a lone surrogate), or None."""
    return next((i for i, ch in enumerate(value) if ch == "\x00" or "\ud800" <= ch <= "\udfff"), None)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def parse_gold(ents: Any, fields: Any) -> tuple[list[Entity], Optional[dict]]:
    """Gold entities and fields from JSON text or from Parquet lists/structs (already Python values)."""
    if isinstance(ents, str):
        ents = json.loads(ents)
    if ents is not None and not isinstance(ents, list):
        raise ValueError("gold entities must be a JSON list")
    entities = [Entity(_offset(e, "start"), _offset(e, "end"), _label(e)) for e in (ents or [])]
    if isinstance(fields, str):
        fields = json.loads(fields)
    if fields is not None and not isinstance(fields, dict):
        raise ValueError("gold fields must be a JSON object")
    return entities, fields


def _offset(entity: Any, key: str) -> int:
    if not isinstance(entity, dict):
        raise ValueError(f"a gold entity must be an object, got {type(entity).__name__}")
    value = entity.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and (not math.isfinite(value) or not value.is_integer())):
        raise ValueError(f"gold entity {key} must be an integer, got {preview(value)}")
    return int(value)


def _label(entity: dict) -> str:
    label = entity.get("label")
    if not isinstance(label, str) or not label:
        raise ValueError(f"gold entity label must be a non-empty string, got {preview(label)}")
    return label
