"""``extractor industry fit``: a company table to an industry resolver directory."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

import click

from extractor.cli._common import echo_json, friendly_errors


@click.group("industry")
def industry_group() -> None:
    """Industry from employer names: build the resolver (company table index and name classifier)
    that `predict`, `evaluate` and `run` use with --industry DIR."""


@industry_group.command("fit")
@click.option("--companies", required=True,
              help="The company table: a .csv or .parquet file, or a SQLAlchemy URL (with --table or --query).")
@click.option("--name-column", "name_columns", multiple=True, required=True, metavar="COL",
              help="A column of company names (full name, short name, alias); repeatable. A match on it is "
                   "traced as table:COL.")
@click.option("--code-column", required=True, metavar="COL",
              help="The industry code: a GB/T 4754-2017 section letter, or any code whose first letter is the "
                   "section (CSRC 2012 C36), or a section name.")
@click.option("--table", "sql_table", help="With a URL: the table to read.")
@click.option("--query", "sql_query", help="With a URL: one read-only SELECT to read instead of a table.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The resolver directory to write (resolver.json, index.json, classifier.safetensors/.json).")
@friendly_errors
def fit(companies: str, name_columns: tuple[str, ...], code_column: str, sql_table: Optional[str],
        sql_query: Optional[str], out: Path) -> None:
    """Build an industry resolver from a company table: the normalised name index and a character
    n-gram classifier for companies the table does not have. Prints one line of JSON."""
    from extractor.rules.industry.resolver import fit_resolver
    from extractor.rules.industry.table import ColumnMapping, CompanyTable

    if "://" in companies and bool(sql_table) == bool(sql_query):
        raise click.UsageError("a URL in --companies needs exactly one of --table or --query")
    if "://" not in companies and (sql_table or sql_query):
        raise click.UsageError("--table and --query are for a SQLAlchemy URL in --companies")
    mapping = ColumnMapping.of({column: column for column in name_columns}, code=code_column)
    table = CompanyTable.load(companies, mapping, table=sql_table, query=sql_query)
    if not len(table):
        raise ValueError(f"{companies}: no company with a name and a valid industry code "
                         f"({table.report.to_dict()})")
    info = fit_resolver(table, out)
    echo_json(asdict(info), ensure_ascii=False)


COMMANDS = [industry_group]
