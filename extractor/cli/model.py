"""Model commands: train, predict, evaluate, export. Each is a thin wrapper over a function that
returns what the command prints, so the same work can be done from Python."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import click

from extractor.cli._common import (
    ENCODER_OPTIONS,
    MODEL_DIR,
    echo_json,
    existing_file,
    friendly_errors,
    parse_key_values,
    predict_options,
    prediction_options,
    progress,
    seed_option,
    with_progress,
)
from extractor.model.options import HEAD_TYPES, TAG_SCHEMES, PredictOptions

log = logging.getLogger("extractor")


def train_model(schema_path: Path, train_path: Path, dev_path: Optional[Path], out: Path, cfg,
                show_progress: bool = False) -> dict:
    """Train ``cfg`` (a ``TrainConfig``) on the documents in ``train_path``; the summary `train` prints."""
    from extractor.data.documents import read_documents
    from extractor.model.train import train
    from extractor.rules.schema import Schema

    schema = Schema.load(schema_path)
    train_docs = list(read_documents(train_path, schema.labels))
    dev_docs = list(read_documents(dev_path, schema.labels)) if dev_path else []
    log.info("training on %d documents (dev: %d), encoder %s, head %s", len(train_docs), len(dev_docs),
             cfg.encoder, cfg.head)
    metrics = train(cfg, schema, train_docs, dev_docs, out, progress=show_progress)
    summary = {"model": str(out), "best_epoch": metrics["best_epoch"], "train_minutes": metrics["train_minutes"]}
    if metrics.get("dev"):
        summary["dev_micro_f1"] = metrics["dev"]["micro"]["f1"]
        summary["dev_doc_exact_match"] = metrics["dev"]["doc_exact_match"]
    if metrics.get("warning"):  # the time budget left an unusable model: say so where scripts look too
        summary["warning"] = metrics["warning"]
    return summary


@click.command()
@click.option("--schema", "schema_path", type=existing_file(), required=True,
              help="Schema (labels and field rules) the model is trained for.")
@click.option("--train", "train_path", type=existing_file(), required=True,
              help="Training documents (.jsonl or .parquet) with gold entities.")
@click.option("--dev", "dev_path", type=existing_file(),
              help="Dev documents: evaluated each epoch to pick the best checkpoint and stop early.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Model directory.")
@click.option("--encoder", default="bilstm", show_default=True,
              help="'bilstm', 'bert-scratch', or a local Hugging Face model directory.")
@click.option("--head", type=click.Choice(HEAD_TYPES), default="gp", show_default=True,
              help="GlobalPointer, Efficient GlobalPointer, or a linear-chain CRF (flat spans only).")
@click.option("--tags", type=click.Choice(TAG_SCHEMES),
              help="Tag scheme of the CRF head  [default: bioes]; --head crf only.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Epochs, at most.")
@seed_option(42)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Training windows per step.")
@click.option("--lr", type=float, help="Encoder learning rate (default depends on the encoder).")
@click.option("--head-lr", type=click.FloatRange(min=0, min_open=True),
              help="Head learning rate (default: --lr if given, else the encoder's default rate and at least 1e-3).")
@click.option("--max-tokens", type=click.IntRange(min=8), default=256, show_default=True,
              help="Window length in tokens; longer texts are split into overlapping windows.")
@click.option("--stride", type=click.IntRange(min=1), default=192, show_default=True,
              help="Tokens between window starts (must be below the window length).")
@click.option("--loss", type=click.Choice(["dense", "sparse"]), default="dense", show_default=True,
              help="How the span loss gets its targets: a dense (T x T) matrix, or sparse gold indices "
                   "(the same loss, less memory on long windows).")
@click.option("--patience", type=click.IntRange(min=1),
              help="Stop after this many epochs without dev improvement. Default: 6, or none with --max-minutes "
                   "(the budget stops the run, and its last, lowest-rate epochs are often the best).")
@click.option("--max-minutes", type=float,
              help="Time budget: no epoch starts that would end past it (at the mean epoch pace so far).")
@click.option("--max-span-len", type=click.IntRange(min=1), help="Longest span (tokens) to predict.")
@ENCODER_OPTIONS
@click.option("--word-tags/--no-word-tags", default=None,
              help="BiLSTM: also feed each character's place in its word (jieba dictionary segmentation). "
                   "Default: on for the BiLSTM.")
@click.option("--word-pos/--no-word-pos", default=None,
              help="With word tags: also the word's part of speech in jieba's dictionary (person, place, "
                   "organisation, ...). Default: on with word tags.")
@click.option("--aux-crf", type=click.FloatRange(min=0),
              help="gp/egp: weight of an auxiliary CRF loss on the encoder's states during training (the CRF is "
                   "not saved; 0: off). Default: 0.05 for the BiLSTM, off for transformer encoders.")
@click.option("--augment", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Mention replacement: each epoch, the probability that a gold entity is swapped for another "
                   "training mention of its label (0: off).")
@click.option("--adversarial", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="FGM: each step also trains on the batch with the embedding tables moved this far along the "
                   "loss gradient (about twice the time per step; 0: off).")
@click.option("--rdrop", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="R-Drop, gp/egp: each batch runs twice with different dropout and the two span score maps "
                   "are pulled together with this weight (about twice the time per step; 0: off).")
@click.option("--ema", type=click.FloatRange(0, 1, max_open=True), default=0.99, show_default=True,
              help="Decay of the moving average of the weights that is evaluated and saved (closer to 1: a longer "
                   "average; 0: off, the raw weights).")
@friendly_errors
def train(schema_path: Path, train_path: Path, dev_path: Optional[Path], out: Path, encoder: str, head: str,
          tags: Optional[str], epochs: int, seed: int, batch_size: int, lr: Optional[float],
          head_lr: Optional[float], max_tokens: int, stride: int, loss: str, patience: Optional[int],
          max_minutes: Optional[float], max_span_len: Optional[int],
          encoder_options: tuple[str, ...], word_tags: Optional[bool], word_pos: Optional[bool],
          aux_crf: Optional[float],
          augment: float, adversarial: float, rdrop: float, ema: float) -> None:
    """Train a model; the best dev checkpoint is written to OUT."""
    from extractor.model.train_config import TrainConfig

    if tags is not None and head != "crf":
        raise click.UsageError("--tags applies to --head crf only")
    if aux_crf and head == "crf":
        raise click.UsageError("--aux-crf applies to --head gp or egp (a CRF head is its own tag-path loss)")
    if rdrop and head == "crf":
        raise click.UsageError("--rdrop applies to --head gp or egp (it compares span scores)")
    cfg = TrainConfig(
        encoder=encoder, head=head, tags=tags or "bioes", epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
        head_lr=head_lr, max_tokens=max_tokens, stride=stride, loss=loss, patience=patience, max_minutes=max_minutes,
        max_span_len=max_span_len, encoder_options=parse_key_values(encoder_options, "--encoder-option"),
        word_tags=word_tags, word_pos=word_pos, aux_crf=aux_crf, augment=augment, adversarial=adversarial,
        rdrop=rdrop, ema=ema or None,
    )
    echo_json(train_model(schema_path, train_path, dev_path, out, cfg, progress()))


def load_with_rules(model_dir: Path, schema: Optional[Path] = None, industry: Optional[str] = None):
    """The model in ``model_dir`` with the rules its fields are built by: ``schema`` (default: the model's
    own) and the industry resolver ``industry`` (a directory, ``none`` for keyword rules only, or None
    for what the schema names)."""
    from dataclasses import replace

    from extractor.model.directory import load_model
    from extractor.nightly.field_predictor import load_rules

    loaded = load_model(model_dir)
    return replace(loaded, schema=load_rules(loaded, str(schema) if schema else None, industry=industry))


def predict_file(model_dir: Path, input_path: Path, output: Path, options: PredictOptions,
                 schema: Optional[Path] = None, industry: Optional[str] = None) -> dict:
    """Predict every document in ``input_path`` into ``output``; the summary `predict` prints."""
    from extractor.data.documents import read_documents
    from extractor.model.predict import Predictor
    from extractor.nightly.outputs import write_predictions

    loaded = load_with_rules(model_dir, schema, industry)
    predictor = Predictor(loaded, options)
    n = write_predictions(with_progress(predictor.predict(read_documents(input_path)), "predict"), loaded.schema,
                          output)
    return {"documents": n, "windows": predictor.windows_made, "output": str(output),
            "model_version": loaded.version, "rules_version": loaded.schema.rules_version}


@click.command()
@MODEL_DIR
@click.option("--input", "input_path", type=existing_file(), required=True, help="Documents (.jsonl or .parquet).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help=".jsonl or .parquet (one row per document) or .csv (one row per span).")
@prediction_options
@friendly_errors
def predict(model_dir: Path, input_path: Path, output: Path, batch_size: int, batch_tokens: Optional[int],
            max_span_len: Optional[int], runtime: str, schema_path: Optional[Path], industry: Optional[str]) -> None:
    """Predict entity spans and field values for every document in INPUT."""
    options = predict_options(batch_size, batch_tokens, runtime, max_span_len)
    echo_json(predict_file(model_dir, input_path, output, options, schema_path, industry))


def evaluate_file(model_dir: Path, gold: Path, options: PredictOptions, schema: Optional[Path] = None,
                  industry: Optional[str] = None) -> dict:
    """Score the model in ``model_dir`` on the gold documents in ``gold`` with training's own dev evaluation."""
    from extractor.data.documents import read_documents
    from extractor.model.evaluate import evaluate_model

    loaded = load_with_rules(model_dir, schema, industry)
    metrics = evaluate_model(loaded, read_documents(gold, loaded.labels), options, progress=progress())
    metrics["model_version"] = loaded.version
    metrics["rules_version"] = loaded.schema.rules_version
    metrics["runtime"] = options.runtime
    return metrics


@click.command()
@MODEL_DIR
@click.option("--gold", type=existing_file(), required=True, help="Documents with gold entities and/or fields.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the metrics as JSON here.")
@prediction_options
@friendly_errors
def evaluate(model_dir: Path, gold: Path, output: Optional[Path], batch_size: int, batch_tokens: Optional[int],
             max_span_len: Optional[int], runtime: str, schema_path: Optional[Path], industry: Optional[str]) -> None:
    """Score a model on gold documents: span P/R/F1, field metrics (with the industry errors by rule),
    document exact match over all fields. A gold document may give only some fields; the others are
    derived from its gold entities by the same rules."""
    from extractor.model.metrics import format_table

    options = predict_options(batch_size, batch_tokens, runtime, max_span_len)
    metrics = evaluate_file(model_dir, gold, options, schema_path, industry)
    click.echo(format_table(metrics), err=output is None)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
        click.echo(json.dumps({"output": str(output), "micro_f1": metrics["micro"]["f1"],
                               "doc_exact_match": metrics["doc_exact_match"]}))
    else:
        echo_json(metrics, ensure_ascii=False)


@click.command()
@MODEL_DIR
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="Export format.")
@click.option("--quantize", type=click.Choice(["int8"]), help="Also write an int8 (dynamically quantised) model.")
@friendly_errors
def export(model_dir: Path, fmt: str, quantize: Optional[str]) -> None:
    """Export MODEL's network to MODEL/onnx/ for the onnx and onnx-int8 runtimes.

    The export is checked against PyTorch before it is kept, and records the model
    version it belongs to: retraining the model in place makes the runtimes refuse it
    until it is exported again.
    """
    from extractor.model.export import export_onnx

    click.echo(json.dumps(export_onnx(model_dir, quantize)))


COMMANDS = (train, predict, evaluate, export)
