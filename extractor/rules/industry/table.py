"""CompanyTable: companies with one or more names and an industry code, from CSV, Parquet or SQL.

Columns are mapped by configuration (``ColumnMapping``): any number of name columns, each with a kind
(``full_name``, ``short_name`` or ``alias``), and one code column holding a section letter or any code
whose first letter is the section (CSRC ``C36``, GB ``C3612``). Rows whose code does not parse, or that
have no name, are counted in ``LoadReport`` and skipped: one bad row must not stop a table of thousands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from extractor.rules.industry.sections import section_of

if TYPE_CHECKING:  # pandas is imported where a table is read: the command line starts without it
    import pandas as pd

NAME_KINDS: tuple[str, ...] = ("full_name", "short_name", "alias")
_EXAMPLES_KEPT = 5  # bad codes quoted in the report, enough to see what is wrong without flooding it


@dataclass(frozen=True)
class NameColumn:
    column: str
    kind: str = "alias"

    def __post_init__(self) -> None:
        if self.kind not in NAME_KINDS:
            raise ValueError(f"name column {self.column!r}: kind must be one of {NAME_KINDS}, not {self.kind!r}")


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold names (with their kind) and which holds the industry code."""

    name_columns: tuple[NameColumn, ...]
    code_column: str

    def __post_init__(self) -> None:
        if not self.name_columns:
            raise ValueError("a column mapping needs at least one name column")

    @classmethod
    def of(cls, names: Mapping[str, str], code: str) -> "ColumnMapping":
        """``ColumnMapping.of({"full_name": "full_name", "short_name": "short_name"}, "csrc_division")``."""
        return cls(tuple(NameColumn(column, kind) for column, kind in names.items()), code)

    @property
    def columns(self) -> list[str]:
        return [n.column for n in self.name_columns] + [self.code_column]

    def to_dict(self) -> dict:
        return {"names": {n.column: n.kind for n in self.name_columns}, "code": self.code_column}

    @classmethod
    def from_dict(cls, data: Mapping) -> "ColumnMapping":
        return cls.of(data["names"], data["code"])


@dataclass(frozen=True)
class CompanyName:
    column: str
    kind: str
    text: str


@dataclass(frozen=True)
class CompanyRecord:
    """One company (one table row): its names, its code as given and the section parsed from it."""

    company_id: int
    code: str
    section: str
    names: tuple[CompanyName, ...]


@dataclass(frozen=True)
class LoadReport:
    rows_read: int
    rows_loaded: int
    rows_bad_code: int
    rows_without_name: int
    bad_code_examples: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_bad_code": self.rows_bad_code,
            "rows_without_name": self.rows_without_name,
            "bad_code_examples": list(self.bad_code_examples),
        }


def _cell_text(value: object) -> str:
    # pandas gives NaN/None/pd.NA for missing cells depending on the source; all mean "no value".
    if value is None:
        return ""
    if not isinstance(value, str):
        import pandas as pd

        if pd.isna(value):
            return ""
    return str(value).strip()


class CompanyTable:
    """Loaded companies; ``records`` in source order, ``report`` says what was skipped and why."""

    def __init__(self, records: Iterable[CompanyRecord], mapping: ColumnMapping, report: LoadReport):
        self.records: tuple[CompanyRecord, ...] = tuple(records)
        self.mapping = mapping
        self.report = report

    def __len__(self) -> int:
        return len(self.records)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, mapping: ColumnMapping) -> "CompanyTable":
        missing = [c for c in mapping.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"columns missing from the company table: {missing}; it has {list(frame.columns)}")
        records: list[CompanyRecord] = []
        bad_code, without_name, examples = 0, 0, []
        for row in frame[mapping.columns].itertuples(index=False, name=None):
            code = _cell_text(row[-1])
            try:
                section = section_of(code)
            except ValueError:
                bad_code += 1
                if len(examples) < _EXAMPLES_KEPT:
                    examples.append(code)
                continue
            names = tuple(
                CompanyName(nc.column, nc.kind, text)
                for nc, value in zip(mapping.name_columns, row[:-1])
                if (text := _cell_text(value))
            )
            if not names:
                without_name += 1
                continue
            records.append(CompanyRecord(len(records), code, section, names))
        report = LoadReport(len(frame), len(records), bad_code, without_name, tuple(examples))
        return cls(records, mapping, report)

    @classmethod
    def from_csv(cls, path: str | Path, mapping: ColumnMapping) -> "CompanyTable":
        import pandas as pd

        # dtype=str: codes like 0001 and names like 600000 must stay text.
        return cls.from_frame(pd.read_csv(path, dtype=str, keep_default_na=False), mapping)

    @classmethod
    def from_parquet(cls, path: str | Path, mapping: ColumnMapping) -> "CompanyTable":
        import pandas as pd

        return cls.from_frame(pd.read_parquet(path, columns=mapping.columns), mapping)

    @classmethod
    def from_sql(
        cls, url: str, mapping: ColumnMapping, *, table: str | None = None, query: str | None = None
    ) -> "CompanyTable":
        """Read the mapped columns of ``table``, or the rows of ``query`` (a single SELECT)."""
        return cls.from_frame(read_sql_frame(url, mapping.columns, table=table, query=query), mapping)

    @classmethod
    def load(
        cls, source: str | Path, mapping: ColumnMapping, *, table: str | None = None, query: str | None = None
    ) -> "CompanyTable":
        """From a ``.csv``/``.parquet`` path, or a SQLAlchemy URL (``sqlite:///x.db``) with table or query."""
        text = str(source)
        if "://" in text:
            return cls.from_sql(text, mapping, table=table, query=query)
        if text.endswith((".parquet", ".pq")):
            return cls.from_parquet(source, mapping)
        if text.endswith((".csv", ".csv.gz")):
            return cls.from_csv(source, mapping)
        raise ValueError(f"company table source must be .csv, .parquet or a SQLAlchemy URL: {text!r}")

    def without(self, company_ids: Iterable[int]) -> "CompanyTable":
        """A copy without the given companies (for held-out measurement); ids are renumbered."""
        dropped = set(company_ids)
        kept = [r for r in self.records if r.company_id not in dropped]
        records = [CompanyRecord(i, r.code, r.section, r.names) for i, r in enumerate(kept)]
        return CompanyTable(records, self.mapping, self.report)


_SINGLE_SELECT = re.compile(r"^\s*select\b", re.IGNORECASE)


def check_single_select(query: str) -> str:
    """The query without a trailing ';'; ValueError unless it is one SELECT statement."""
    body = query.strip().rstrip(";").strip()
    if not _SINGLE_SELECT.match(body) or ";" in body:
        raise ValueError(f"a company-table query must be a single SELECT statement: {query!r}")
    return body


def read_sql_frame(url: str, columns: list[str], *, table: str | None, query: str | None) -> pd.DataFrame:
    """Rows of a table's columns or of a single-SELECT query, through SQLAlchemy."""
    import pandas as pd
    from sqlalchemy import MetaData, Table, create_engine, select, text

    if (table is None) == (query is None):
        raise ValueError("give exactly one of table= or query= for a SQL company table")
    engine = create_engine(url)
    try:
        if table is not None:
            reflected = Table(table, MetaData(), autoload_with=engine)
            statement = select(*(reflected.c[c] for c in columns))
        else:
            statement = text(check_single_select(query))
        with engine.connect() as connection:
            result = connection.execute(statement)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    finally:
        engine.dispose()
