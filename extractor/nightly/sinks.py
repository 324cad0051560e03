"""The run's file sinks: the wide table (one row per document, one column per field) rewritten whole
from the database at the end of every run, whichever engine ran it.

Rewritten rather than appended to, because the database is the state: a file then always shows every
document processed under the current model and rules, however many runs (or killed runs) it took.
"""
from __future__ import annotations

import csv
import logging
import os
from contextlib import ExitStack
from itertools import groupby
from pathlib import Path
from typing import Iterator, Sequence

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from extractor.nightly import database as db
from extractor.nightly.config import SinkConfig
from extractor.nightly.outputs import wide_arrow_schema, wide_columns, wide_row
from extractor.nightly.safe_files import csv_cell, exclusive_temporary, remove_stale_temporaries, writing
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)

PARQUET_ROWS = 1024


def wide_rows(engine: Engine, schema: Schema, model_version: str, rules_version: str) -> Iterator[dict]:
    """One row per document processed under ``model_version`` and ``rules_version``, from the database."""
    pd, fv = db.processed_documents, db.field_values
    stmt = (
        select(pd.c.doc_id, fv.c.field, fv.c.ordinal, fv.c.value, fv.c.code, fv.c.score, fv.c.confidence)
        .select_from(pd.outerjoin(fv, and_(fv.c.doc_id == pd.c.doc_id, fv.c.model_version == pd.c.model_version)))
        .where(and_(pd.c.model_version == model_version, pd.c.rules_version == rules_version))
        .order_by(pd.c.doc_id, fv.c.field, fv.c.ordinal)
    )
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=PARQUET_ROWS).execute(stmt)
        for doc_id, rows in groupby(result, key=lambda r: r.doc_id):
            values: dict[str, list] = {}
            for r in rows:
                if r.field is not None:
                    values.setdefault(r.field, []).append(r)
            yield wide_row(doc_id, values, schema)


class _WideTableFiles:
    """The sinks being written, each to a temporary name beside its final one."""

    def __init__(self, sinks: Sequence[SinkConfig], schema: Schema, stack: ExitStack):
        import pyarrow.parquet as pq

        self.arrow_schema = wide_arrow_schema(schema)
        self.csv_writers: list[csv.DictWriter] = []
        self.parquet_writers: list = []
        self.paths: dict[str, tuple[Path, Path]] = {}
        for sink in sinks:
            final = Path(sink.path)
            with writing(final):
                final.parent.mkdir(parents=True, exist_ok=True)
                remove_stale_temporaries(final)
                fd, tmp = exclusive_temporary(final, f"tmp-{os.getpid()}")
            self.paths[sink.type] = (tmp, final)
            if sink.type == "csv":
                fh = stack.enter_context(os.fdopen(fd, "w", encoding="utf-8", newline=""))
                writer = csv.DictWriter(fh, fieldnames=wide_columns(schema))
                writer.writeheader()
                self.csv_writers.append(writer)
            else:
                raw = stack.enter_context(os.fdopen(fd, "wb"))
                writer = pq.ParquetWriter(raw, self.arrow_schema)
                stack.callback(writer.close)
                self.parquet_writers.append(writer)

    def write_row(self, row: dict) -> None:
        if self.csv_writers:
            cells = {key: csv_cell(value) for key, value in row.items()}  # a value is no spreadsheet formula
            for writer in self.csv_writers:
                writer.writerow(cells)

    def write_chunk(self, rows: list[dict]) -> None:
        import pyarrow as pa

        table = pa.Table.from_pylist(rows, schema=self.arrow_schema)
        for writer in self.parquet_writers:
            writer.write_table(table)


def export_sinks(engine: Engine, sinks: Sequence[SinkConfig], schema: Schema, model_version: str,
                 rules_version: str, progress: bool = False) -> dict[str, str]:
    """Rewrite the wide table files from the database, each to a temporary name then renamed into place
    (a reader never sees half a file). Returns the path written per sink type."""
    if not sinks:
        return {}
    from tqdm.auto import tqdm

    n = 0
    # Rows go to every sink at once: a failure there (a full disk) names them all.
    with writing(", ".join(sink.path for sink in sinks)), ExitStack() as stack:
        files = _WideTableFiles(sinks, schema, stack)
        chunk: list[dict] = []
        for row in tqdm(wide_rows(engine, schema, model_version, rules_version), desc="write sinks", unit="doc",
                        disable=not progress):
            n += 1
            files.write_row(row)
            chunk.append(row)
            if len(chunk) >= PARQUET_ROWS:
                files.write_chunk(chunk)
                chunk = []
        if chunk or n == 0:  # an empty run still writes a file with the columns
            files.write_chunk(chunk)
    for tmp, final in files.paths.values():
        with writing(final):
            tmp.replace(final)
    log.info("wrote %d documents to %s", n, ", ".join(str(f) for _, f in files.paths.values()))
    return {kind: str(final) for kind, (_, final) in files.paths.items()}
