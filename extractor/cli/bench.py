"""``extractor bench``: speed and accuracy measured on this machine; figures go to stdout and --json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from extractor.bench import SPEED_PATHS
from extractor.cli._common import (
    BATCH_SIZE,
    BATCH_TOKENS,
    ENCODER_OPTIONS,
    echo_json,
    existing_file,
    friendly_errors,
    parse_key_values,
    predict_options,
    progress,
    seed_option,
)
from extractor.model.options import HEAD_TYPES, TAG_SCHEMES


@click.group("bench")
def bench_group() -> None:
    """Measure speed and accuracy on this machine; figures go to stdout and --json."""


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not numbers or min(numbers) < 1:
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return numbers


def _write_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


@bench_group.command("speed")
@click.option("--encoder", "encoders", multiple=True, default=("bert-4x768", "bilstm"), show_default=True,
              help="bert-4x768 (random 4-layer, 768-hidden BERT), bilstm (the default encoder, random weights) "
                   "or a trained model directory (repeatable).")
@click.option("--path", "paths", multiple=True, type=click.Choice(SPEED_PATHS),
              help="Paths to measure (repeatable; default: all).")
@click.option("--lengths", default="64,128,256,512", show_default=True, callback=_int_list,
              help="Document lengths (characters) for the latency figures.")
@click.option("--latency-docs", type=click.IntRange(min=1), default=30, show_default=True,
              help="Documents timed per length.")
@click.option("--mixed-docs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Sample résumés of mixed lengths for the throughput figures.")
@BATCH_SIZE
@BATCH_TOKENS
@click.option("--streams", type=click.IntRange(min=1),
              help="Batches run at once, one thread each (default: one per thread; 1: every thread on one batch).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the figures here.")
@click.pass_context
@friendly_errors
def bench_speed(ctx: click.Context, encoders: tuple[str, ...], paths: tuple[str, ...], lengths: list[int],
                latency_docs: int, mixed_docs: int, batch_size: int, batch_tokens: Optional[int],
                streams: Optional[int], json_path: Optional[Path]) -> None:
    """Prediction latency (p50/p95 by length), throughput and peak RSS: the naive path, batched fp32 and the
    optimised runtimes side by side, each in its own process. Prints a table; --json writes every figure."""
    from extractor.bench.speed import bench_speed, format_speed_table, write_json

    options = predict_options(batch_size, batch_tokens, threads=ctx.find_root().params.get("threads"),
                              streams=streams)
    results = bench_speed(encoders, paths or SPEED_PATHS, lengths, latency_docs, mixed_docs,
                          options, progress=progress())
    click.echo(format_speed_table(results))
    if json_path:
        write_json(results, json_path)
    echo_json({enc: e["summary"] for enc, e in results["encoders"].items()})


def parse_heads(heads: str) -> list[str]:
    """``gp,crf`` -> ["gp", "crf"]: distinct names among ``HEAD_TYPES``."""
    names = [h.strip() for h in heads.split(",") if h.strip()]
    unknown = [h for h in names if h not in HEAD_TYPES]
    if not names or unknown or len(set(names)) != len(names):
        raise click.UsageError(f"--heads takes distinct names among {', '.join(HEAD_TYPES)}, got {heads!r}")
    return names


@bench_group.command("heads")
@click.option("--train", "train_path", type=existing_file(), required=True, help="Training documents.")
@click.option("--dev", "dev_path", type=existing_file(), required=True,
              help="Scored and timed with each head's final model.")
@click.option("--schema", "schema_path", type=existing_file(), required=True, help="Schema the heads are trained for.")
@click.option("--encoder", default="bilstm", show_default=True,
              help="'bilstm', 'bert-scratch', or a local Hugging Face model directory; the same for every head.")
@click.option("--heads", default="gp,crf", show_default=True,
              help=f"Comma-separated heads to compare ({', '.join(HEAD_TYPES)}).")
@click.option("--tags", type=click.Choice(TAG_SCHEMES), default="bioes", show_default=True,
              help="Tag scheme of the CRF head.")
@click.option("--epochs", type=click.IntRange(min=1), default=6, show_default=True,
              help="Fixed number of epochs for every head (no early stopping, no time budget).")
@seed_option(42)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Training batch size.")
@click.option("--predict-batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Windows per forward pass when predicting dev, at most.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed prediction passes over dev per head (after one warm-up); the best counts.")
@click.option("--max-tokens", type=click.IntRange(min=8), default=256, show_default=True,
              help="Window length in tokens.")
@click.option("--stride", type=click.IntRange(min=1), default=192, show_default=True,
              help="Tokens between window starts.")
@ENCODER_OPTIONS
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep each head's final model in WORKDIR/HEAD (default: a temporary directory).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every figure, the ratios and the machine's description here.")
@friendly_errors
def bench_heads(train_path: Path, dev_path: Path, schema_path: Path, encoder: str, heads: str, tags: str,
                epochs: int, seed: int, batch_size: int, predict_batch_size: int, repeats: int, max_tokens: int,
                stride: int, encoder_options: tuple[str, ...], workdir: Optional[Path],
                json_path: Optional[Path]) -> None:
    """Train every head on the same encoder, data, seed and epochs; compare dev F1, training
    seconds per epoch and prediction documents/s (GlobalPointer vs the CRF baseline)."""
    from extractor.bench.heads import format_bench, run_bench
    from extractor.data.documents import read_documents
    from extractor.rules.schema import Schema

    names = parse_heads(heads)
    schema = Schema.load(schema_path)
    train_docs = list(read_documents(train_path, schema.labels))
    dev_docs = list(read_documents(dev_path, schema.labels))
    report = run_bench(train_docs, dev_docs, schema, heads=names, encoder=encoder, epochs=epochs, seed=seed,
                       batch_size=batch_size, predict_batch_size=predict_batch_size, repeats=repeats, tags=tags,
                       max_tokens=max_tokens, stride=stride,
                       encoder_options=parse_key_values(encoder_options, "--encoder-option"),
                       workdir=workdir, progress=progress())
    click.echo(format_bench(report))
    if json_path:
        _write_json(report, json_path)
        click.echo(json.dumps({"output": str(json_path), "ratios": report["ratios"]}))


COMMANDS = (bench_group,)
