"""Data commands: import-conll (tagged text into documents) and sample (synthetic résumés)."""
from __future__ import annotations

from pathlib import Path

import click

from extractor.cli._common import echo_json, existing_file, friendly_errors, seed_option

_DOCUMENTS_OUT = dict(type=click.Path(dir_okay=False, path_type=Path), required=True,
                      help="Output documents (.jsonl or .parquet).")


def import_conll_file(file: Path, scheme: str, out: Path, group_docstart: bool = True) -> dict:
    """Write the documents of the token-per-line tagged ``file`` to ``out``; returns the count and path."""
    from extractor.data.conll import read_conll
    from extractor.data.documents import write_documents

    n = write_documents(read_conll(file, scheme=scheme, group_docstart=group_docstart), out)
    return {"documents": n, "output": str(out)}


@click.command("import-conll")
@click.argument("file", type=existing_file())
@click.option("--scheme", type=click.Choice(["bio", "bmes"]), required=True, help="Tagging scheme of FILE.")
@click.option("--out", "out", **_DOCUMENTS_OUT)
@click.option("--no-docstart", is_flag=True, help="Ignore -DOCSTART- lines: one document per sentence.")
@friendly_errors
def import_conll(file: Path, scheme: str, out: Path, no_docstart: bool) -> None:
    """Convert a token-per-line tagged FILE into documents."""
    echo_json(import_conll_file(file, scheme, out, group_docstart=not no_docstart))


def write_sample(n: int, seed: int, out: Path) -> dict:
    """Write ``n`` synthetic résumés to ``out``; returns the count and path."""
    from extractor.data.documents import write_documents
    from extractor.data.sample import generate_documents

    return {"documents": write_documents(generate_documents(n, seed=seed), out), "output": str(out)}


@click.command()
@click.option("--n", "n", type=click.IntRange(min=1), default=1000, show_default=True, help="Documents to write.")
@seed_option(0)
@click.option("--out", **_DOCUMENTS_OUT)
@friendly_errors
def sample(n: int, seed: int, out: Path) -> None:
    """Write N synthetic résumés with gold entities and fields (for demos and tests only)."""
    echo_json(write_sample(n, seed, out))


COMMANDS = (import_conll, sample)
