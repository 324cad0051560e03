"""The ``extractor`` command line.

Exit codes: 0 success; 1 bad input, configuration or model directory (the
message says which file and what is wrong); 2 bad command-line usage; 3 a
database cannot be reached or used; 4 an accuracy report shows a field F1 drop
beyond the pipeline's threshold (everything was still written).
"""
from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Optional

import click

from extractor import __version__
from extractor.data.documents import DocumentError
from extractor.paths import PIPELINES_DIR, PRODUCT_SCHEMA
from extractor.rules.schema import SchemaError

log = logging.getLogger("extractor")


EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_REGRESSION = 1, 3, 4


def _friendly_errors(fn):
    """Known failures become one clear line and a documented exit code, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import OperationalError

        from extractor.nightly.database import DatabaseError
        from extractor.nightly.engines import EngineError

        try:
            return fn(*args, **kwargs)
        except (DocumentError, SchemaError, FileNotFoundError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except DatabaseError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_DATABASE)
        except OperationalError as exc:  # the database went away mid-run; committed batches are kept
            click.echo(f"error: database failure: {str(exc.orig or exc).strip().splitlines()[0]}", err=True)
            sys.exit(EXIT_DATABASE)
        except EngineError as exc:  # Ray missing (1), the cluster unreachable (3), the distributed job failed (1)
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _progress() -> bool:
    return sys.stderr.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="extractor")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--threads", type=click.IntRange(min=1), envvar="EXTRACTOR_THREADS",
              help="CPU threads for torch (default: torch's choice, usually one per core).")
def main(verbose: bool, threads: Optional[int]) -> None:
    """Extract education, industry and major from résumé-like documents with GlobalPointer."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic announces every plugin and migration context at INFO: only worth seeing with -v.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.command("import-conll")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scheme", type=click.Choice(["bio", "bmes"]), required=True, help="Tagging scheme of FILE.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output documents (.jsonl or .parquet).")
@click.option("--no-docstart", is_flag=True, help="Ignore -DOCSTART- lines: one document per sentence.")
@_friendly_errors
def import_conll(file: Path, scheme: str, out: Path, no_docstart: bool) -> None:
    """Convert a token-per-line tagged FILE into documents."""
    from extractor.data.conll import read_conll
    from extractor.data.documents import write_documents

    n = write_documents(read_conll(file, scheme=scheme, group_docstart=not no_docstart), out)
    click.echo(json.dumps({"documents": n, "output": str(out)}))


@main.command()
@click.option("--n", "n", type=click.IntRange(min=1), default=1000, show_default=True, help="Documents to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output documents (.jsonl or .parquet).")
@_friendly_errors
def sample(n: int, seed: int, out: Path) -> None:
    """Write N synthetic résumés with gold entities and fields (for demos and tests only)."""
    from extractor.data.documents import write_documents
    from extractor.data.sample import generate_documents

    count = write_documents(generate_documents(n, seed=seed), out)
    click.echo(json.dumps({"documents": count, "output": str(out)}))


@main.command()
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--train", "train_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--dev", "dev_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Dev documents: evaluated each epoch to pick the best checkpoint and stop early.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Model directory.")
@click.option("--encoder", default="bilstm", show_default=True,
              help="'bilstm', 'bert-scratch', or a local Hugging Face model directory.")
@click.option("--head", type=click.Choice(["gp", "egp", "crf"]), default="gp", show_default=True,
              help="GlobalPointer, Efficient GlobalPointer, or a linear-chain CRF (flat spans only).")
@click.option("--tags", type=click.Choice(["bioes", "bio"]),
              help="Tag scheme of the CRF head  [default: bioes]; --head crf only.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=float, help="Encoder learning rate (default depends on the encoder).")
@click.option("--max-tokens", type=click.IntRange(min=8), default=256, show_default=True,
              help="Window length in tokens; longer texts are split into overlapping windows.")
@click.option("--stride", type=click.IntRange(min=1), default=192, show_default=True,
              help="Tokens between window starts (must be below the window length).")
@click.option("--loss", type=click.Choice(["dense", "sparse"]), default="dense", show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=6, show_default=True,
              help="Stop after this many epochs without dev improvement.")
@click.option("--max-minutes", type=float,
              help="Time budget: no epoch starts that would end past it (at the mean epoch pace so far).")
@click.option("--max-span-len", type=click.IntRange(min=1), help="Longest span (tokens) to predict.")
@click.option("--encoder-option", "encoder_options", multiple=True, metavar="KEY=VALUE",
              help="Encoder hyper-parameter, e.g. hidden_size=256 (repeatable).")
@click.option("--word-tags/--no-word-tags", default=None,
              help="BiLSTM: also feed each character's place in its word (jieba dictionary segmentation). "
                   "Default: on for the BiLSTM.")
@_friendly_errors
def train(schema_path: Path, train_path: Path, dev_path: Optional[Path], out: Path, encoder: str, head: str,
          tags: Optional[str], epochs: int, seed: int, batch_size: int, lr: Optional[float], max_tokens: int, stride: int, loss: str,
          patience: int, max_minutes: Optional[float], max_span_len: Optional[int],
          encoder_options: tuple[str, ...], word_tags: Optional[bool]) -> None:
    """Train a model; the best dev checkpoint is written to OUT."""
    from extractor.data.documents import read_documents
    from extractor.model.train import TrainConfig
    from extractor.model.train import train as run_training
    from extractor.rules.schema import Schema

    if tags is not None and head != "crf":
        raise click.UsageError("--tags applies to --head crf only")
    schema = Schema.load(schema_path)
    train_docs = list(read_documents(train_path, schema.labels))
    dev_docs = list(read_documents(dev_path, schema.labels)) if dev_path else []
    cfg = TrainConfig(
        encoder=encoder, head=head, tags=tags or "bioes", epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
        max_tokens=max_tokens, stride=stride, loss=loss, patience=patience, max_minutes=max_minutes,
        max_span_len=max_span_len, encoder_options=_parse_options(encoder_options), word_tags=word_tags,
    )
    log.info("training on %d documents (dev: %d), encoder %s, head %s", len(train_docs), len(dev_docs), encoder, head)
    metrics = run_training(cfg, schema, train_docs, dev_docs, out, progress=_progress())
    summary = {"model": str(out), "best_epoch": metrics["best_epoch"], "train_minutes": metrics["train_minutes"]}
    if metrics.get("dev"):
        summary["dev_micro_f1"] = metrics["dev"]["micro"]["f1"]
        summary["dev_doc_exact_match"] = metrics["dev"]["doc_exact_match"]
    click.echo(json.dumps(summary))


def _parse_options(pairs: tuple[str, ...]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--encoder-option needs KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)  # numbers and booleans
        except json.JSONDecodeError:
            out[key] = value
    return out


_RUNTIME = click.option("--runtime", type=click.Choice(["torch", "torch-int8", "onnx", "onnx-int8"]), default="torch",
                        show_default=True, help="What runs the network (the onnx runtimes need `extractor export`).")
_BATCH_SIZE = click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
                           help="Windows per forward pass, at most.")
_BATCH_TOKENS = click.option("--batch-tokens", type=click.IntRange(min=1),
                             help="Padded tokens per forward pass, at most (a longer window goes alone; "
                                  "default: extractor.model.predict.DEFAULT_BATCH_TOKENS, 1024).")


@main.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Documents (.jsonl or .parquet).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help=".jsonl or .parquet (one row per document) or .csv (one row per span).")
@_BATCH_SIZE
@_BATCH_TOKENS
@click.option("--max-span-len", type=click.IntRange(min=1), help="Longest span (tokens) to keep.")
@_RUNTIME
@_friendly_errors
def predict(model_dir: Path, input_path: Path, output: Path, batch_size: int, batch_tokens: Optional[int],
            max_span_len: Optional[int], runtime: str) -> None:
    """Predict entity spans and field values for every document in INPUT."""
    from extractor.data.documents import read_documents
    from extractor.model.directory import load_model
    from extractor.model.predict import DEFAULT_BATCH_TOKENS, Predictor
    from extractor.nightly.outputs import write_predictions

    loaded = load_model(model_dir)
    predictor = Predictor(loaded, batch_size=batch_size, batch_tokens=batch_tokens or DEFAULT_BATCH_TOKENS,
                          max_span_len=max_span_len, runtime=runtime)
    stream = _tqdm(predictor.predict(read_documents(input_path)), "predict")
    n = write_predictions(stream, loaded.schema, output)
    click.echo(json.dumps({"documents": n, "windows": predictor.windows_made, "output": str(output),
                           "model_version": loaded.version}))


@main.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--gold", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Documents with gold entities and/or fields.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the metrics as JSON here.")
@_BATCH_SIZE
@_BATCH_TOKENS
@_RUNTIME
@_friendly_errors
def evaluate(model_dir: Path, gold: Path, output: Optional[Path], batch_size: int, batch_tokens: Optional[int],
             runtime: str) -> None:
    """Score a model on gold documents: span P/R/F1, field metrics, document exact match."""
    from extractor.data.documents import read_documents
    from extractor.model.directory import load_model
    from extractor.model.metrics import Scorer, format_table
    from extractor.model.predict import DEFAULT_BATCH_TOKENS, Predictor

    loaded = load_model(model_dir)
    scorer = Scorer(loaded.schema, loaded.labels)
    predictor = Predictor(loaded, batch_size=batch_size, batch_tokens=batch_tokens or DEFAULT_BATCH_TOKENS,
                          runtime=runtime)
    for doc, spans in _tqdm(predictor.predict(read_documents(gold, loaded.labels)), "evaluate"):
        scorer.add(doc, spans)
    metrics = scorer.result()
    metrics["model_version"] = loaded.version
    metrics["runtime"] = runtime
    click.echo(format_table(metrics), err=output is None)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
        click.echo(json.dumps({"output": str(output), "micro_f1": metrics["micro"]["f1"],
                               "doc_exact_match": metrics["doc_exact_match"]}))
    else:
        click.echo(json.dumps(metrics, ensure_ascii=False))


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"), show_default=True)
@click.option("--pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=PIPELINES_DIR / "nightly.yaml", show_default=False,
              help="Pipeline to run on the prepared work directory (default: the bundled pipelines/nightly.yaml).")
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=PRODUCT_SCHEMA, show_default=False,
              help="Schema the demo model is trained for (default: the bundled schemas/resume.yaml).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-minutes", type=float, default=4.0, show_default=True, help="Training time budget.")
@click.option("--full-refresh", is_flag=True, help="Reprocess every document even if nothing changed.")
@_friendly_errors
def demo(workdir: Path, pipeline: Path, schema_path: Path, seed: int, max_minutes: float, full_refresh: bool) -> None:
    """Run the main job end to end on the embedded default.

    Writes sample résumés into WORKDIR/resumes.db (SQLite) and
    WORKDIR/resumes.parquet, trains the small demo model into WORKDIR/model
    unless it is there, then runs PIPELINE with EXTRACTOR_WORKDIR=WORKDIR and
    prints per-field precision/recall/F1 and document exact match.
    """
    from extractor.nightly.demo import run_demo

    metrics = run_demo(workdir, schema_path, pipeline=pipeline, seed=seed, max_minutes=max_minutes,
                       progress=_progress(), full_refresh=full_refresh)
    click.echo(json.dumps({"workdir": str(workdir), "doc_exact_match": metrics["doc_exact_match"],
                           "fields_f1": {k: v["f1"] for k, v in metrics["fields"].items()}}))


def _load_pipeline(pipeline: Path, settings: tuple[str, ...]):
    from extractor.nightly.config import load_pipeline

    overrides = {}
    for pair in settings:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set needs KEY=VALUE (e.g. source.url=postgresql+psycopg://...), got {pair!r}")
        overrides[key] = value
    return load_pipeline(pipeline, overrides)


_SET_HELP = "Override a pipeline setting, e.g. --set database=sqlite:///x.db or --set source.table=cv (repeatable)."


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--full-refresh", is_flag=True, help="Reprocess every document, not only new or changed ones.")
@click.option("--limit", type=click.IntRange(min=1), help="Read at most N source records.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: read and predict on a Ray cluster (Parquet source and sink; "
                   "pip install 'resume-extractor[ray]').")
@click.option("--address", help="With --engine ray: the cluster to connect to (ray.init(address=...)), e.g. auto "
                                 "or ray://head:10001. Default: the pipeline's ray.address, else RAY_ADDRESS, else "
                                 "a new local Ray instance.")
@_friendly_errors
def run(pipeline: Path, full_refresh: bool, limit: Optional[int], settings: tuple[str, ...], engine: str,
        address: Optional[str]) -> None:
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
    cfg = _load_pipeline(pipeline, settings)
    summary = engines.run(cfg, engine, full_refresh=full_refresh, limit=limit, progress=_progress(), address=address)
    if summary.report:
        click.echo("fields F1: " + ", ".join(f"{k} {v * 100:.2f}" for k, v in summary.report["fields_f1"].items())
                   + f"; document exact match {summary.report['doc_exact_match'] * 100:.2f}%", err=True)
    click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    _exit_on_regression(summary.regressions)


def _exit_on_regression(regressions: list) -> None:
    if regressions:
        for r in regressions:
            click.echo(f"error: {r['field']} F1 dropped from {r['previous_f1']:.4f} to {r['f1']:.4f}", err=True)
        sys.exit(EXIT_REGRESSION)


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Score at most N source records.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@_friendly_errors
def report(pipeline: Path, limit: Optional[int], settings: tuple[str, ...]) -> None:
    """Score PIPELINE's model and rules on its source's gold labels and write the accuracy report.

    JSON (the `evaluate` keys), CSV, Markdown and a self-contained HTML page go
    to the pipeline's report.directory; exits 4 when a field's F1 dropped more
    than report.max_f1_drop since the previous report there.
    """
    from extractor.model.metrics import format_table
    from extractor.nightly.runner import evaluate_pipeline

    cfg = _load_pipeline(pipeline, settings)
    metrics, paths, regressions = evaluate_pipeline(cfg, limit=limit, progress=_progress())
    click.echo(format_table(metrics), err=True)
    click.echo(json.dumps({"n_docs": metrics["n_docs"], "doc_exact_match": metrics["doc_exact_match"],
                           "fields_f1": {k: v["f1"] for k, v in metrics["fields"].items()},
                           "outputs": {k: str(v) for k, v in paths.items()}, "regressions": regressions},
                          ensure_ascii=False))
    _exit_on_regression(regressions)


@main.group("db")
def db_group() -> None:
    """Manage the runner's database tables (Alembic migrations in migrations/)."""


_URL_HELP = "SQLAlchemy URL, e.g. sqlite:///demo/extracted.db or postgresql+psycopg://user@host/db."


@db_group.command("upgrade")
@click.option("--url", required=True, envvar="EXTRACTOR_DB_URL", help=_URL_HELP)
@click.option("--revision", default="head", show_default=True)
@_friendly_errors
def db_upgrade(url: str, revision: str) -> None:
    """Apply migrations up to REVISION (runs also do this on first use)."""
    from extractor.nightly import database as db

    db.upgrade(url, revision)
    click.echo(json.dumps({"url": db.safe_url(url), "revision": db.current(url)}))


@db_group.command("downgrade")
@click.option("--url", required=True, envvar="EXTRACTOR_DB_URL", help=_URL_HELP)
@click.option("--revision", required=True, help="Target revision; 'base' drops the runner's tables.")
@_friendly_errors
def db_downgrade(url: str, revision: str) -> None:
    """Revert migrations down to REVISION."""
    from extractor.nightly import database as db

    db.downgrade(url, revision)
    click.echo(json.dumps({"url": db.safe_url(url), "revision": db.current(url)}))


@db_group.command("current")
@click.option("--url", required=True, envvar="EXTRACTOR_DB_URL", help=_URL_HELP)
@_friendly_errors
def db_current(url: str) -> None:
    """Print the revision the database is at (null: no runner tables yet) and the newest one."""
    from extractor.nightly import database as db

    click.echo(json.dumps({"url": db.safe_url(url), "revision": db.current(url), "head": db.head()}))


@main.group("bench")
def bench_group() -> None:
    """Measure speed and accuracy on this machine; figures go to stdout and --json."""


def _int_list(_ctx, _param, value: str) -> list[int]:
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or min(numbers) < 1:
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return numbers


@bench_group.command("speed")
@click.option("--encoder", "encoders", multiple=True, default=("bert-4x768", "bilstm"), show_default=True,
              help="bert-4x768 (random 4-layer, 768-hidden BERT), bilstm (the default encoder, random weights) "
                   "or a trained model directory (repeatable).")
@click.option("--path", "paths", multiple=True, type=click.Choice(["naive", "fp32", "torch-int8", "onnx", "onnx-int8"]),
              help="Paths to measure (repeatable; default: all).")
@click.option("--lengths", default="64,128,256,512", show_default=True, callback=_int_list,
              help="Document lengths (characters) for the latency figures.")
@click.option("--latency-docs", type=click.IntRange(min=1), default=30, show_default=True,
              help="Documents timed per length.")
@click.option("--mixed-docs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Sample résumés of mixed lengths for the throughput figures.")
@_BATCH_SIZE
@_BATCH_TOKENS
@click.option("--streams", type=click.IntRange(min=1),
              help="Batches run at once, one thread each (default: one per thread; 1: every thread on one batch).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the figures here.")
@click.pass_context
@_friendly_errors
def bench_speed_command(ctx: click.Context, encoders: tuple[str, ...], paths: tuple[str, ...], lengths: list[int],
                        latency_docs: int, mixed_docs: int, batch_size: int, batch_tokens: Optional[int],
                        streams: Optional[int], json_path: Optional[Path]) -> None:
    """Prediction latency (p50/p95 by length), throughput and peak RSS: the naive path, batched fp32 and the
    optimised runtimes side by side, each in its own process. Prints a table; --json writes every figure."""
    from extractor.bench.speed import PATHS, bench_speed, format_speed_table, write_json
    from extractor.model.predict import DEFAULT_BATCH_TOKENS

    results = bench_speed(encoders, paths or PATHS, lengths, latency_docs, mixed_docs, batch_size,
                          batch_tokens or DEFAULT_BATCH_TOKENS, streams,
                          threads=ctx.find_root().params.get("threads"), progress=_progress())
    click.echo(format_speed_table(results))
    if json_path:
        write_json(results, json_path)
    click.echo(json.dumps({enc: e["summary"] for enc, e in results["encoders"].items()}))


@main.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True)
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--quantize", type=click.Choice(["int8"]), help="Also write an int8 (dynamically quantised) model.")
@_friendly_errors
def export(model_dir: Path, fmt: str, quantize: Optional[str]) -> None:
    """Export MODEL's network to MODEL/onnx/ for the onnx and onnx-int8 runtimes.

    The export is checked against PyTorch before it is kept, and records the model
    version it belongs to: retraining the model in place makes the runtimes refuse it
    until it is exported again.
    """
    from extractor.model.export import export_onnx

    click.echo(json.dumps(export_onnx(model_dir, quantize)))


@bench_group.command("heads")
@click.option("--train", "train_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--dev", "dev_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Scored and timed with each head's final model.")
@click.option("--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--encoder", default="bilstm", show_default=True,
              help="'bilstm', 'bert-scratch', or a local Hugging Face model directory; the same for every head.")
@click.option("--heads", default="gp,crf", show_default=True, help="Comma-separated heads to compare (gp, egp, crf).")
@click.option("--tags", type=click.Choice(["bioes", "bio"]), default="bioes", show_default=True,
              help="Tag scheme of the CRF head.")
@click.option("--epochs", type=click.IntRange(min=1), default=6, show_default=True,
              help="Fixed number of epochs for every head (no early stopping, no time budget).")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Training batch size.")
@click.option("--predict-batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed prediction passes over dev per head (after one warm-up); the best counts.")
@click.option("--max-tokens", type=click.IntRange(min=8), default=256, show_default=True)
@click.option("--stride", type=click.IntRange(min=1), default=192, show_default=True)
@click.option("--encoder-option", "encoder_options", multiple=True, metavar="KEY=VALUE",
              help="Encoder hyper-parameter, e.g. hidden_size=256 (repeatable).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep each head's final model in WORKDIR/HEAD (default: a temporary directory).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every figure, the ratios and the machine's description here.")
@_friendly_errors
def bench_heads(train_path: Path, dev_path: Path, schema_path: Path, encoder: str, heads: str, tags: str,
                epochs: int, seed: int, batch_size: int, predict_batch_size: int, repeats: int, max_tokens: int,
                stride: int, encoder_options: tuple[str, ...], workdir: Optional[Path],
                json_path: Optional[Path]) -> None:
    """Train every head on the same encoder, data, seed and epochs; compare dev F1, training
    seconds per epoch and prediction documents/s (GlobalPointer vs the CRF baseline)."""
    from extractor.bench.heads import format_bench, run_bench
    from extractor.data.documents import read_documents
    from extractor.model.heads import HEAD_TYPES
    from extractor.rules.schema import Schema

    names = [h.strip() for h in heads.split(",") if h.strip()]
    unknown = [h for h in names if h not in HEAD_TYPES]
    if not names or unknown or len(set(names)) != len(names):
        raise click.UsageError(f"--heads takes distinct names among {', '.join(HEAD_TYPES)}, got {heads!r}")
    schema = Schema.load(schema_path)
    train_docs = list(read_documents(train_path, schema.labels))
    dev_docs = list(read_documents(dev_path, schema.labels))
    report = run_bench(train_docs, dev_docs, schema, heads=names, encoder=encoder, epochs=epochs, seed=seed,
                       batch_size=batch_size, predict_batch_size=predict_batch_size, repeats=repeats, tags=tags,
                       max_tokens=max_tokens, stride=stride, encoder_options=_parse_options(encoder_options),
                       workdir=workdir, progress=_progress())
    click.echo(format_bench(report))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        click.echo(json.dumps({"output": str(json_path), "ratios": report["ratios"]}))


def _tqdm(iterable, desc: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="doc", disable=not _progress())


if __name__ == "__main__":  # pragma: no cover
    main()
