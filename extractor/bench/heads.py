"""``extractor bench heads``: heads compared on the same encoder, data, seed and epochs.

For each head (default GlobalPointer and the CRF baseline):

1. train a fixed number of epochs: no early stopping, no time budget, the final
   epoch's (averaged) weights are the model; every head gets the same seed, so
   the same initial encoder weights and the same batches;
2. training time: the mean over epochs of the seconds spent in training steps
   (forward, loss, backward, optimiser), the dev evaluation after each epoch
   excluded;
3. on the final model, saved and loaded back: prediction over the whole dev set
   through ``Predictor`` (windows, forward pass, decoding, merging), the same
   batch size for every head, one warm-up pass, then ``repeats`` passes per
   head taken in turn (gp, crf, gp, crf, ...) so a change of machine load hits
   every head alike; the best pass gives documents/s;
4. dev micro and per-label P/R/F1 of those predictions.

Ratios compare every other head with ``crf``: train speed-up = crf s/epoch /
head s/epoch, predict speed-up = head docs/s / crf docs/s, F1 difference =
head F1 - crf F1.
"""
from __future__ import annotations

import logging
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Optional, Sequence

import torch

from extractor.data.documents import Document
from extractor.model.directory import LoadedModel, load_model
from extractor.model.metrics import Scorer
from extractor.model.predict import PredictOptions, Predictor
from extractor.model.train import TrainConfig, train
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)

BASELINE = "crf"
TARGETS = {"train_speedup": 1.4, "predict_speedup": 1.1, "f1_diff": 0.0}  # issue 4: GP vs CRF


def machine_info() -> dict:
    return {
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def _load() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def predict_pass(loaded: LoadedModel, docs: Sequence[Document], batch_size: int) -> tuple[float, list]:
    predictor = Predictor(loaded, PredictOptions(windows_per_batch=batch_size))
    t0 = time.perf_counter()
    predicted = [spans for _, spans in predictor.predict(docs)]
    return time.perf_counter() - t0, predicted


def train_head(cfg: TrainConfig, schema: Schema, train_docs: Sequence[Document], dev_docs: Sequence[Document],
               out_dir: Path, progress: bool) -> tuple[LoadedModel, dict]:
    """Train one head for the fixed epochs; the saved model loaded back, and its training figures."""
    log.info("bench: training %s head, %d epochs", cfg.head, cfg.epochs)
    load_before = _load()
    metrics = train(cfg, schema, train_docs, dev_docs, out_dir, progress=progress)
    seconds = [row["train_seconds"] for row in metrics["history"]]
    loaded = load_model(out_dir)
    return loaded, {
        "config": asdict(cfg),
        "head": loaded.config["head"],
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "head_parameters": sum(p.numel() for p in loaded.model.head.parameters()),
        "train_windows": metrics["train_windows"],
        "epoch_train_seconds": seconds,
        "sec_per_epoch": round(statistics.fmean(seconds), 3),
        "dev_f1_per_epoch": [row.get("dev_micro_f1") for row in metrics["history"]],
        "loss_per_epoch": [row["loss"] for row in metrics["history"]],
        "load_average": {"before_training": load_before, "after_training": _load()},
    }


def time_predictions(models: dict[str, LoadedModel], heads: Sequence[str], docs: Sequence[Document], batch_size: int,
                     repeats: int) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Seconds per pass and the last pass's predictions, per head: one warm-up pass per head, then the
    timed passes taken in turn, so a change of machine load hits every head alike."""
    times: dict[str, list[float]] = {h: [] for h in heads}
    predicted: dict[str, list] = {}
    for head in heads:
        predict_pass(models[head], docs, batch_size)
    for _ in range(repeats):
        for head in heads:
            elapsed, predicted[head] = predict_pass(models[head], docs, batch_size)
            times[head].append(elapsed)
    return times, predicted


def prediction_figures(schema: Schema, loaded: LoadedModel, docs: Sequence[Document], predicted: list,
                       times: list[float]) -> dict:
    """Dev scores of one head's predictions and its prediction speed (the best pass)."""
    scorer = Scorer(schema, loaded.labels)
    for doc, spans in zip(docs, predicted):
        scorer.add(doc, spans)
    dev = scorer.result()
    best = min(times)
    return dict(
        dev_micro=dev["micro"],
        dev_labels={lab: m for lab, m in dev["labels"].items()},
        dev_doc_exact_match=dev["doc_exact_match"],
        predict_seconds=[round(t, 4) for t in times],
        predict_best_seconds=round(best, 4),
        predict_docs_per_s=round(len(docs) / best, 2),
    )


def ratios_to_baseline(results: dict[str, dict], heads: Sequence[str]) -> dict[str, dict]:
    """Every other head against ``BASELINE``: speed-ups, F1 difference and which targets are met."""
    ratios = {}
    if BASELINE not in results:
        return ratios
    base = results[BASELINE]
    for head in heads:
        if head == BASELINE:
            continue
        r = results[head]
        ratio = {
            "train_speedup": _ratio(base["sec_per_epoch"], r["sec_per_epoch"]),
            "predict_speedup": _ratio(r["predict_docs_per_s"], base["predict_docs_per_s"]),
            "f1_diff": round(r["dev_micro"]["f1"] - base["dev_micro"]["f1"], 6),
        }
        ratio["targets_met"] = {k: ratio[k] is not None and ratio[k] >= v for k, v in TARGETS.items()}
        ratios[f"{head}_vs_{BASELINE}"] = ratio
    return ratios


def run_bench(
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    schema: Schema,
    heads: Sequence[str] = ("gp", "crf"),
    encoder: str = "bilstm",
    epochs: int = 6,
    seed: int = 42,
    batch_size: int = 16,
    predict_batch_size: int = 32,
    repeats: int = 3,
    tags: str = "bioes",
    max_tokens: int = 256,
    stride: int = 192,
    encoder_options: Optional[dict] = None,
    workdir: Optional[Path] = None,
    progress: bool = False,
) -> dict:
    """Train, time and score every head (see the module docstring); returns the report."""
    if not dev_docs:
        raise ValueError("bench heads needs dev documents to score and time prediction on")
    # Fixed epochs for every head: no early stopping, no time budget, the final epoch's weights.
    fixed_epochs = TrainConfig(encoder=encoder, tags=tags, epochs=epochs, seed=seed, batch_size=batch_size,
                               patience=epochs + 1, max_minutes=None, checkpoint="last", max_tokens=max_tokens,
                               stride=stride)
    with tempfile.TemporaryDirectory(prefix="bench-heads-") as tmp:
        root = Path(workdir) if workdir else Path(tmp)
        results: dict[str, dict] = {}
        models: dict[str, LoadedModel] = {}
        for head in heads:
            cfg = replace(fixed_epochs, head=head, encoder_options=dict(encoder_options or {}))
            models[head], results[head] = train_head(cfg, schema, train_docs, dev_docs, root / head, progress)
        times, predicted = time_predictions(models, heads, dev_docs, predict_batch_size, repeats)
        for head in heads:
            results[head].update(prediction_figures(schema, models[head], dev_docs, predicted[head], times[head]))
    return {
        "encoder": encoder, "heads": list(heads), "epochs": epochs, "seed": seed, "batch_size": batch_size,
        "predict_batch_size": predict_batch_size, "repeats": repeats, "max_tokens": max_tokens, "stride": stride,
        "train_docs": len(train_docs), "dev_docs": len(dev_docs), "schema": schema.name,
        "results": results, "ratios": ratios_to_baseline(results, heads), "targets": TARGETS,
        "machine": machine_info(),
    }


def _ratio(a: float, b: float) -> Optional[float]:
    return round(a / b, 3) if b else None


def format_bench(report: dict) -> str:
    heads = report["heads"]
    results = report["results"]
    pairs = list(report["ratios"])
    width = 12
    head_row = f"{'':<20}" + "".join(f"{h:>{width}}" for h in heads) + "".join(f"{p.replace('_vs_', '/'):>{width}}" for p in pairs)
    lines = [head_row]

    def row(name, values, ratios=()):
        lines.append(f"{name:<20}" + "".join(f"{v:>{width}}" for v in values) + "".join(f"{r:>{width}}" for r in ratios))

    def pct(x):
        return f"{x * 100:.2f}"

    diffs = [f"{report['ratios'][p]['f1_diff'] * 100:+.2f}" for p in pairs]
    for key, name in (("precision", "dev micro P"), ("recall", "dev micro R")):
        row(name, [pct(results[h]["dev_micro"][key]) for h in heads], [""] * len(pairs))
    row("dev micro F1", [pct(results[h]["dev_micro"]["f1"]) for h in heads], diffs)
    for lab in results[heads[0]]["dev_labels"]:
        per = [results[h]["dev_labels"][lab]["f1"] for h in heads]
        gaps = []
        for p in pairs:
            h = p.split("_vs_")[0]
            gaps.append(f"{(results[h]['dev_labels'][lab]['f1'] - results[BASELINE]['dev_labels'][lab]['f1']) * 100:+.2f}")
        row(f"  {lab} F1", [pct(x) for x in per], gaps)
    fmt = lambda r: "n/a" if r is None else f"{r:.2f}x"  # noqa: E731
    row("train s/epoch", [f"{results[h]['sec_per_epoch']:.2f}" for h in heads],
        [fmt(report["ratios"][p]["train_speedup"]) for p in pairs])
    row("predict docs/s", [f"{results[h]['predict_docs_per_s']:.1f}" for h in heads],
        [fmt(report["ratios"][p]["predict_speedup"]) for p in pairs])
    m = report["machine"]
    lines.append("")
    lines.append(f"encoder {report['encoder']}, {report['epochs']} epochs, seed {report['seed']}, batch "
                 f"{report['batch_size']} (predict {report['predict_batch_size']}), {report['train_docs']} train / "
                 f"{report['dev_docs']} dev documents; torch {m['torch']}, {m['torch_threads']} thread(s), "
                 f"{m['cpu_count']} CPUs")
    if pairs:
        lines.append(f"ratios: train speed-up = {BASELINE} s/epoch / head s/epoch (target >= {TARGETS['train_speedup']}), "
                     f"predict speed-up = head docs/s / {BASELINE} docs/s (target >= {TARGETS['predict_speedup']}), "
                     "F1 difference in points (target >= 0)")
    return "\n".join(lines)
