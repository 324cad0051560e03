"""Pipeline commands: run (the batch job), report (accuracy on the source's gold labels), demo."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import click

from extractor.cli._common import (
    INDUSTRY,
    PIPELINE_SET,
    echo_json,
    existing_file,
    exit_on_regression,
    friendly_errors,
    progress,
    seed_option,
)
from extractor.nightly.engines import ENGINES
from extractor.paths import PIPELINES_DIR, PRODUCT_SCHEMA


def load_pipeline_file(pipeline: Path, settings: tuple[str, ...] = (), industry: Optional[str] = None):
    """The ``PipelineConfig`` of ``pipeline`` with ``--set KEY=VALUE`` overrides (and ``--industry``) applied."""
    from extractor.nightly.config import load_pipeline

    overrides = {}
    for pair in settings:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set needs KEY=VALUE (e.g. source.url=postgresql+psycopg://...), got {pair!r}")
        overrides[key] = value
    cfg = load_pipeline(pipeline, overrides)
    # A path given on the command line is taken as it is, not parsed as a YAML value like --set values.
    return replace(cfg, industry=industry) if industry else cfg


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--full-refresh", is_flag=True, help="Reprocess every document, not only new or changed ones.")
@click.option("--limit", type=click.IntRange(min=1), help="Read at most N source records.")
@PIPELINE_SET
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="local: this process; ray: read and predict on a Ray cluster (Parquet source and sink; "
                   "pip install 'resume-extractor[ray]').")
@click.option("--address", help="With --engine ray: the cluster to connect to (ray.init(address=...)), e.g. auto "
                                 "or ray://head:10001. Default: the pipeline's ray.address, else RAY_ADDRESS, else "
                                 "a new local Ray instance.")
@INDUSTRY
@friendly_errors
def run(pipeline: Path, full_refresh: bool, limit: Optional[int], settings: tuple[str, ...], engine: str,
        address: Optional[str], industry: Optional[str]) -> None:
    """Run the batch job PIPELINE (a YAML file, e.g. pipelines/nightly.yaml).

    Only documents new or changed since they were last processed (content hash,
    model version, rules version) are processed unless --full-refresh. Bad
    records are quarantined and counted, never dropped silently. Prints one line
    of JSON with the run's counts and outputs. --engine ray runs the same job
    on a Ray cluster (docs/ray.md).
    """
    from extractor.nightly import engines

    if address and engine != "ray":
        raise click.UsageError("--address is for --engine ray")
    cfg = load_pipeline_file(pipeline, settings, industry)
    summary = engines.run(cfg, engine, full_refresh=full_refresh, limit=limit, progress=progress(), address=address)
    if summary.report:
        exact = summary.report["doc_exact_match"]
        click.echo("fields F1: " + ", ".join(f"{k} {v * 100:.2f}" for k, v in summary.report["fields_f1"].items())
                   + "; document exact match " + ("absent" if exact is None else f"{exact * 100:.2f}%"), err=True)
    echo_json(summary.to_dict(), ensure_ascii=False)
    exit_on_regression(summary.regressions)


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Score at most N source records.")
@PIPELINE_SET
@INDUSTRY
@friendly_errors
def report(pipeline: Path, limit: Optional[int], settings: tuple[str, ...], industry: Optional[str]) -> None:
    """Score PIPELINE's model and rules on its source's gold labels and write the accuracy report.

    JSON (the `evaluate` keys), CSV, Markdown and a self-contained HTML page go
    to the pipeline's report.directory; exits 4 when a field's F1 dropped more
    than report.max_f1_drop since the previous report there.
    """
    from extractor.model.metrics import format_table
    from extractor.nightly.runner import evaluate_pipeline

    metrics, paths, regressions = evaluate_pipeline(load_pipeline_file(pipeline, settings, industry), limit=limit,
                                                    progress=progress())
    click.echo(format_table(metrics), err=True)
    echo_json({"n_docs": metrics["n_docs"], "doc_exact_match": metrics["doc_exact_match"],
               "fields_f1": {k: v["f1"] for k, v in metrics["fields"].items()},
               "outputs": {k: str(v) for k, v in paths.items()}, "regressions": regressions}, ensure_ascii=False)
    exit_on_regression(regressions)


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"), show_default=True,
              help="Where the sample data, the demo model and every output go.")
@click.option("--pipeline", type=existing_file(), default=PIPELINES_DIR / "nightly.yaml", show_default=False,
              help="Pipeline to run on the prepared work directory (default: the bundled pipelines/nightly.yaml).")
@click.option("--schema", "schema_path", type=existing_file(), default=PRODUCT_SCHEMA, show_default=False,
              help="Schema the demo model is trained for (default: the bundled schemas/resume.yaml).")
@seed_option(0)
@click.option("--max-minutes", type=float, default=30.0, show_default=True,
              help="Safety cap on training time; the demo trains by --epochs, not by the clock.")
@click.option("--full-refresh", is_flag=True, help="Reprocess every document even if nothing changed.")
@friendly_errors
def demo(workdir: Path, pipeline: Path, schema_path: Path, seed: int, max_minutes: float, full_refresh: bool) -> None:
    """Run the main job end to end on the embedded default.

    Writes sample résumés into WORKDIR/resumes.db (SQLite) and
    WORKDIR/resumes.parquet, trains the small demo model into WORKDIR/model
    unless it is there, then runs PIPELINE with EXTRACTOR_WORKDIR=WORKDIR and
    prints per-field precision/recall/F1 and document exact match.
    """
    from extractor.nightly.demo import run_demo

    metrics = run_demo(workdir, schema_path, pipeline=pipeline, seed=seed, max_minutes=max_minutes,
                       progress=progress(), full_refresh=full_refresh)
    echo_json({"workdir": str(workdir), "doc_exact_match": metrics["doc_exact_match"],
               "fields_f1": {k: v["f1"] for k, v in metrics["fields"].items()}})


COMMANDS = (run, report, demo)
