"""Documents: the unit that flows through the whole system.

A document is ``doc_id``, ``text``, optional gold ``entities`` (character
offsets, end exclusive) and optional gold ``fields``. They are read and written
as JSONL or Parquet; the file extension decides.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence


class DocumentError(ValueError):
    """A document or one of its entities is malformed."""


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    label: str
    score: Optional[float] = None

    def to_dict(self, text: Optional[str] = None) -> dict:
        out: dict = {"start": self.start, "end": self.end, "label": self.label}
        if text is not None:
            out["text"] = text[self.start : self.end]
        if self.score is not None:
            out["score"] = round(float(self.score), 6)
        return out


@dataclass
class Document:
    doc_id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    fields: Optional[dict[str, Optional[str]]] = None

    def to_dict(self) -> dict:
        out: dict = {
            "doc_id": self.doc_id,
            "text": self.text,
            "entities": [e.to_dict(self.text) for e in self.entities],
        }
        if self.fields is not None:
            out["fields"] = self.fields
        return out

    @classmethod
    def from_dict(cls, row: dict, labels: Optional[Sequence[str]] = None) -> "Document":
        if "doc_id" not in row or "text" not in row:
            raise DocumentError(f"record needs 'doc_id' and 'text', got keys {sorted(row)}")
        doc_id, text = row["doc_id"], row["text"]
        if not isinstance(text, str):
            raise DocumentError(f"doc {doc_id!r}: text must be a string, got {type(text).__name__}")
        entities = [
            Entity(int(e["start"]), int(e["end"]), str(e["label"]), e.get("score"))
            for e in (row.get("entities") or [])
        ]
        fields = row.get("fields")
        doc = cls(str(doc_id), text, entities, dict(fields) if fields is not None else None)
        validate(doc, labels)
        return doc


def validate(doc: Document, labels: Optional[Sequence[str]] = None) -> None:
    """Raise DocumentError naming the doc and entity when an offset or label is bad."""
    known = set(labels) if labels is not None else None
    for e in doc.entities:
        where = f"doc {doc.doc_id!r}, entity {e.label}[{e.start}:{e.end}]"
        if not (0 <= e.start < e.end <= len(doc.text)):
            raise DocumentError(
                f"{where}: offsets must satisfy 0 <= start < end <= len(text) = {len(doc.text)}"
            )
        if known is not None and e.label not in known:
            raise DocumentError(f"{where}: unknown label {e.label!r}; schema labels are {sorted(known)}")


def _format(path: Path) -> str:
    suffix = "".join(path.suffixes[-1:]).lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise DocumentError(f"{path}: unknown file type {suffix!r}; use .jsonl, .parquet or .csv")


def read_documents(path: str | Path, labels: Optional[Sequence[str]] = None) -> Iterator[Document]:
    """Stream documents from a JSONL or Parquet file, validating each one."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    kind = _format(path)
    if kind == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DocumentError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                yield Document.from_dict(row, labels)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield Document.from_dict(_from_parquet_row(row), labels)
    else:
        raise DocumentError(f"{path}: documents are read from .jsonl or .parquet, not {kind}")


def _from_parquet_row(row: dict) -> dict:
    # Parquet has no "missing key": fields are stored as a JSON string column.
    fields = row.get("fields")
    if isinstance(fields, str):
        row["fields"] = json.loads(fields)
    return row


def write_documents(docs: Iterable[Document], path: str | Path) -> int:
    """Write documents as JSONL or Parquet; returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = _format(path)
    count = 0
    if kind == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for doc in docs:
                fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
                count += 1
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for doc in docs:
            row = doc.to_dict()
            row["fields"] = json.dumps(doc.fields, ensure_ascii=False) if doc.fields is not None else None
            rows.append(row)
        schema = pa.schema(
            [
                ("doc_id", pa.string()),
                ("text", pa.string()),
                (
                    "entities",
                    pa.list_(
                        pa.struct(
                            [("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()),
                             ("text", pa.string()), ("score", pa.float64())]
                        )
                    ),
                ),
                ("fields", pa.string()),
            ]
        )
        for row in rows:
            row["entities"] = [{"score": None, **e} for e in row["entities"]]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        count = len(rows)
    else:
        raise DocumentError(f"{path}: documents are written as .jsonl or .parquet, not {kind}")
    return count
