"""Sources: stream raw records out of Parquet files or a SQL database, a batch at a time.

Nothing here judges a record; the runner quarantines bad ones. A source only
fails as a whole when it cannot be read at all (missing file or column,
unreachable database): ``SourceError`` / ``DatabaseError`` with a clear message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from extractor.nightly.config import ColumnMap, SourceConfig
from extractor.nightly.database import DatabaseError, make_engine, safe_url

READ_BATCH_ROWS = 1024


class SourceError(ValueError):
    """The source exists but cannot be used as configured (missing column, unreadable file)."""


@dataclass
class SourceRecord:
    position: int  # record number in the source, from 0
    doc_id: Any
    text: Any
    updated_at: Any = None
    gold_entities: Any = None
    gold_fields: Any = None


def open_source(cfg: SourceConfig) -> "ParquetSource | SqlSource":
    if cfg.type == "parquet":
        return ParquetSource(Path(cfg.path or ""), cfg.columns)
    return SqlSource(cfg.url or "", cfg.table, cfg.query, cfg.columns)


def _record(position: int, row: dict, cols: ColumnMap) -> SourceRecord:
    return SourceRecord(
        position, row.get(cols.id), row.get(cols.text),
        row.get(cols.updated_at) if cols.updated_at else None,
        row.get(cols.gold_entities) if cols.gold_entities else None,
        row.get(cols.gold_fields) if cols.gold_fields else None,
    )


def _check_columns(have: list[str], cols: ColumnMap, where: str) -> None:
    missing = [c for c in cols.wanted() if c not in have]
    if missing:
        raise SourceError(f"{where}: missing column(s) {missing}; it has {have} "
                          "(map them under source.columns in the pipeline)")


class ParquetSource:
    """A Parquet file, or every ``*.parquet`` under a directory in name order, read in record batches."""

    def __init__(self, path: Path, columns: ColumnMap, batch_rows: int = READ_BATCH_ROWS):
        self.path, self.columns, self.batch_rows = path, columns, batch_rows
        if not path.exists():
            raise SourceError(f"{path}: no such file or directory")
        self.files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        if not self.files:
            raise SourceError(f"{path}: directory holds no *.parquet files")
        self.total = 0  # rows, from the files' metadata: the progress bar's length
        for f in self.files:  # fail before anything is written, not halfway through the night
            pf = self._open(f)
            _check_columns(pf.schema_arrow.names, columns, str(f))
            self.total += pf.metadata.num_rows

    def _open(self, f: Path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(f)
        except (OSError, pa.ArrowException) as exc:
            raise SourceError(f"{f}: not a readable Parquet file ({exc})") from None

    def __iter__(self) -> Iterator[SourceRecord]:
        import pyarrow as pa

        position = 0
        for f in self.files:
            try:
                # Only the mapped columns, one record batch at a time: memory does not grow with the file.
                for batch in self._open(f).iter_batches(batch_size=self.batch_rows, columns=self.columns.wanted()):
                    for row in batch.to_pylist():
                        yield _record(position, row, self.columns)
                        position += 1
            except (OSError, pa.ArrowException) as exc:
                raise SourceError(f"{f}: unreadable at record {position} ({exc})") from None

    def describe(self) -> str:
        return str(self.path)


class SqlSource:
    """A table or a SELECT through SQLAlchemy, streamed with a server-side cursor where the driver has one."""

    def __init__(self, url: str, table: Optional[str], query: Optional[str], columns: ColumnMap,
                 batch_rows: int = READ_BATCH_ROWS):
        from sqlalchemy import exc as sa_exc
        from sqlalchemy import inspect
        from sqlalchemy.engine import make_url

        self.url, self.table, self.query, self.columns, self.batch_rows = url, table, query, columns, batch_rows
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError as exc:
            raise SourceError(f"not a database URL: {url!r} ({exc})") from None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                and not Path(parsed.database).exists():
            # SQLite would quietly create an empty database: a typo must not read as "no documents".
            raise SourceError(f"{safe_url(url)}: no such SQLite database file")
        self.total: Optional[int] = None  # unknown without a COUNT(*), which can cost as much as the read
        if query:
            _one_statement(query, safe_url(url))
        self.engine = make_engine(url)
        if parsed.get_backend_name() == "sqlite":
            _sqlite_source_connections(self.engine)
        try:
            if table:
                insp = inspect(self.engine)
                if not insp.has_table(table):
                    raise SourceError(f"{safe_url(url)}: no table {table!r}")
                have = [c["name"] for c in insp.get_columns(table)]
            else:
                with _read_only(self.engine.connect()) as conn:
                    have = list(conn.exec_driver_sql(f"SELECT * FROM ({query}\n) AS q WHERE 1 = 0").keys())
        except sa_exc.OperationalError as exc:
            raise DatabaseError(f"{safe_url(url)}: cannot read the source: {_first_line(exc)}") from None
        except sa_exc.ProgrammingError as exc:
            raise SourceError(f"{safe_url(url)}: the source query fails: {_first_line(exc)}") from None
        _check_columns(have, columns, f"{safe_url(url)} {table or 'query'}")

    def _select(self):
        from sqlalchemy import column, select, table, text

        cols = [column(c) for c in self.columns.wanted()]
        if self.table:
            # Ordered by id: a rerun meets documents in the same order, so batches line up with the ledger.
            return select(*cols).select_from(table(self.table)).order_by(column(self.columns.id))
        return select(*cols).select_from(text(f"({self.query}\n) AS q"))  # \n: a trailing -- comment ends before ")"

    def __iter__(self) -> Iterator[SourceRecord]:
        from sqlalchemy import exc as sa_exc

        position = 0
        try:
            with _read_only(self.engine.connect()) as conn:
                result = conn.execution_options(stream_results=True, yield_per=self.batch_rows).execute(
                    self._select())
                for row in result.mappings():
                    yield _record(position, dict(row), self.columns)
                    position += 1
        except sa_exc.OperationalError as exc:
            raise DatabaseError(f"{safe_url(self.url)}: lost the source at record {position}: "
                                f"{_first_line(exc)}") from None

    def describe(self) -> str:
        return f"{safe_url(self.url)} {self.table or 'query'}"


def _read_only(conn):
    """``conn`` in read-only transactions where the database has them (PostgreSQL); SQLite source
    connections are read-only from the start (``_sqlite_source_connections``)."""
    if conn.dialect.name == "postgresql":
        return conn.execution_options(postgresql_readonly=True)
    return conn


def _one_statement(query: str, where: str) -> None:
    """Refuse a query that is more than one statement: a ';' outside strings, quoted names and comments.
    The query is pasted into ``SELECT ... FROM (query)``, so a second statement would run as it is."""
    i, n = 0, len(query)
    while i < n:
        ch, two = query[i], query[i:i + 2]
        if two == "--":
            end = query.find("\n", i)
        elif two == "/*":
            end = query.find("*/", i + 2) + 1 or n
        elif ch in "'\"`":
            end = _closing_quote(query, i, ch)
        elif ch == "$" and _DOLLAR_TAG.match(query, i):
            tag = _DOLLAR_TAG.match(query, i).group(0)
            found = query.find(tag, i + len(tag))
            end = n if found < 0 else found + len(tag) - 1
        elif ch == ";":
            raise SourceError(f"{where}: source.query must be a single SELECT statement; it has a ';' at "
                              f"character {i + 1}")
        else:
            end = i
        i = (n if end < 0 else end) + 1


_DOLLAR_TAG = re.compile(r"\$[A-Za-z_]*\$")  # PostgreSQL's $$...$$ and $tag$...$tag$ strings


def _closing_quote(query: str, start: int, quote: str) -> int:
    """The offset of the quote that closes the one at ``start`` (a doubled quote is an escaped one)."""
    i = start + 1
    while True:
        i = query.find(quote, i)
        if i < 0 or query[i + 1:i + 2] != quote:
            return i
        i += 2


def _sqlite_source_connections(engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _per_record_decoding(dbapi_conn, _record) -> None:
        # sqlite3 fails the whole fetch on one TEXT value that is not UTF-8; such a value comes through
        # as bytes instead, and the record checks quarantine that one record.
        dbapi_conn.text_factory = _utf8_or_bytes
        # The source is only read: even a query that slipped a write past _one_statement cannot write.
        dbapi_conn.execute("PRAGMA query_only = ON")


def _utf8_or_bytes(value: bytes) -> "str | bytes":
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return bytes(value)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
