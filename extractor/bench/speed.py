"""``extractor bench speed``: prediction latency, throughput and memory, path against path.

Paths, each run in a fresh process so its peak RSS is its own:

- ``naive``       fp32, one document at a time, every window padded to the full window
                  (how the reference GlobalPointer repositories predict);
- ``fp32``        fp32, dynamic padding; latency one document at a time, throughput in
                  length-sorted batches of at most ``batch_tokens`` padded tokens, run
                  concurrently one thread each (``Predictor``'s defaults);
- ``torch-int8``, ``onnx``, ``onnx-int8``: the optimised runtimes (extractor/model/runtime.py),
                  measured the same way as ``fp32``.

Encoders: a 4-layer, 768-hidden BERT (the shape of the distilled Chinese models users
deploy) and the default from-scratch BiLSTM, both with random weights made here, or any
trained model directory. Speed does not depend on the weights, but decoding does: random
span scores put half of all spans above 0, so random-weight models decode with a threshold
above every score, which costs what a trained model's handful of spans costs.
"""
from __future__ import annotations

import inspect
import itertools
import json
import logging
import multiprocessing
import platform
import resource
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch

from extractor.bench import SPEED_PATHS
from extractor.data.documents import Document
from extractor.data.sample import generate_documents
from extractor.model.predict import PredictOptions
from extractor.model.runtime import RUNTIMES, default_threads
from extractor.paths import PRODUCT_SCHEMA
from extractor.rules.schema import Schema

log = logging.getLogger(__name__)

LENGTHS = (64, 128, 256, 512)
PATHS = SPEED_PATHS
RANDOM_WEIGHTS_THRESHOLD = 1e9
BERT_4X768 = dict(hidden_size=768, num_hidden_layers=4, num_attention_heads=12, intermediate_size=3072,
                  vocab_size=21128, max_position_embeddings=512)


def random_hf_checkpoint(directory: Path, texts: Iterable[str], vocab_size: Optional[int] = None,
                         **bert_config) -> Path:
    """A random-weight BERT and a character WordPiece vocabulary, saved in Hugging Face layout.

    The vocabulary holds every character of ``texts``, topped up with CJK characters to
    ``vocab_size`` (Chinese BERTs have 21,128 entries) so the embedding table has its real size.
    """
    import transformers
    from transformers import BertConfig, BertModel

    directory.mkdir(parents=True, exist_ok=True)
    chars = sorted({ch for t in texts for ch in t if not ch.isspace()})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars
    if vocab_size is not None:
        seen = set(tokens)
        cjk = (chr(c) for c in [*range(0x4E00, 0xA000), *range(0x3400, 0x4DC0)] if chr(c) not in seen)
        filler = itertools.chain(cjk, (f"[unused{i}]" for i in itertools.count()))
        tokens += [next(filler) for _ in range(max(0, vocab_size - len(tokens)))]
    if "vocab" in inspect.signature(transformers.BertTokenizer.__init__).parameters:  # transformers >= 5
        tokenizer = transformers.BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=False)
    else:
        vocab = directory / "vocab.txt"
        vocab.write_text("\n".join(tokens) + "\n", encoding="utf-8")
        tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab), do_lower_case=False)
    config = BertConfig(**dict(bert_config, vocab_size=len(tokens)))
    model = BertModel(config)
    _reinitialise(model)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def _reinitialise(model: torch.nn.Module, seed: int = 0) -> None:
    """Random weights that depend on the seed alone: transformers initialises modules in an order that follows
    Python's string hashing, so two processes built two different "random" checkpoints (and a test comparing
    int8 with fp32 on one passed or failed by PYTHONHASHSEED). BERT's own scheme: N(0, 0.02), zero biases,
    unit LayerNorm scales."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if name.endswith("bias"):
                parameter.zero_()
            elif "LayerNorm" in name:
                parameter.fill_(1.0)
            else:
                parameter.normal_(0.0, 0.02, generator=generator)


def make_random_model(encoder: str, directory: Path, schema: Schema, docs: Sequence[Document]) -> Path:
    """A saved model directory with random weights: ``bert-4x768`` or ``bilstm`` (the default encoder)."""
    from extractor.model.directory import save_model
    from extractor.model.train import TrainConfig, build_untrained

    torch.manual_seed(0)
    if encoder == "bert-4x768":
        hf_dir = random_hf_checkpoint(directory / "hf", (d.text for d in docs), **BERT_4X768)
        cfg = TrainConfig(encoder=str(hf_dir), max_tokens=512, stride=384)
    elif encoder == "bilstm":
        cfg = TrainConfig(encoder="bilstm", max_tokens=512, stride=384)
    else:
        raise ValueError(f"unknown bench encoder {encoder!r}; expected bert-4x768, bilstm or a model directory")
    loaded = build_untrained(cfg, schema, docs)
    loaded.model.eval()
    return save_model(directory / "model", loaded)


def texts_of_length(n_chars: int, count: int, docs: Sequence[Document]) -> list[str]:
    """``count`` texts of exactly ``n_chars`` characters, cut from running résumé text."""
    stream = "".join(d.text for d in docs)
    step = max(1, (len(stream) - n_chars) // max(1, count))
    return [stream[i * step : i * step + n_chars] for i in range(count)]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _measure(job: dict) -> dict:
    """One path on one model, in its own process: latency by length, throughput, peak RSS."""
    from extractor.model.directory import load_model
    from extractor.model.predict import Predictor

    options: PredictOptions = job["options"]
    torch.set_num_threads(options.threads)
    path = job["path"]
    options = replace(options, runtime="torch" if path in ("naive", "fp32") else path, threshold=job["threshold"])
    loaded = load_model(job["model_dir"])
    # One predictor for latency and throughput, so the runtime (and its memory) is loaded once.
    # The naive path is the reference code's loop: one document, padded, every thread on it.
    naive = path == "naive"
    warmup_docs = options.windows_per_batch
    if naive:
        options = replace(options, windows_per_batch=1, tokens_per_batch=None, streams=1)
    predictor = Predictor(loaded, options, pad_to_window=naive)
    latency: dict[str, dict] = {}
    for n_chars, texts in job["latency_texts"].items():
        docs = [Document(f"lat-{n_chars}-{i}", t) for i, t in enumerate(texts)]
        for d in docs[: job["warmup"]]:
            predictor.predict_chunk([d])
        times = []
        for d in docs:
            t0 = time.perf_counter()
            predictor.predict_chunk([d])
            times.append((time.perf_counter() - t0) * 1000)
        latency[n_chars] = {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(_percentile(times, 0.95), 2),
                            "n": len(times)}
    mixed = [Document(f"mix-{i}", t) for i, t in enumerate(job["mixed_texts"])]
    predictor.predict_chunk(mixed[: min(len(mixed), warmup_docs)])  # warm-up
    t0 = time.perf_counter()
    if path == "naive":
        for d in mixed:
            predictor.predict_chunk([d])
    else:
        for _ in predictor.predict(mixed):
            pass
    seconds = time.perf_counter() - t0
    chars = sum(len(d.text) for d in mixed)
    return {"latency": latency, "docs_per_s": round(len(mixed) / seconds, 2), "chars_per_s": round(chars / seconds),
            "throughput_docs": len(mixed), "throughput_seconds": round(seconds, 3),
            "peak_rss_mib": round(peak_rss_mib(), 1)}


def peak_rss_mib() -> float:
    """This process's peak resident set size. Linux's VmHWM belongs to the address space, so a spawned
    child starts from zero; ru_maxrss survives exec and would report the parent's peak if that was larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_in_child(job: dict, queue) -> None:  # pragma: no cover - runs in a child process
    try:
        queue.put(_measure(job))
    except BaseException as exc:
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def _run_isolated(job: dict) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure_in_child, args=(job, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result:
        raise RuntimeError(f"bench path {job['path']} on {job['encoder']} failed: {result['error']}")
    return result


def prepare_model(encoder: str, workdir: Path, schema: Schema, docs: Sequence[Document],
                  paths: Sequence[str]) -> tuple[str, Path, float]:
    """The model directory an encoder is measured on, exported to ONNX when an ONNX path is measured;
    returns its name, directory and the decoding threshold to use."""
    from extractor.model.export import export_onnx

    if Path(encoder).is_dir():  # a trained model: copied, so the export does not touch the original
        model_dir = shutil.copytree(encoder, workdir / Path(encoder).name / "model", dirs_exist_ok=True)
        name, threshold = Path(encoder).name, 0.0
    else:
        model_dir = make_random_model(encoder, workdir / encoder, schema, docs)
        name, threshold = encoder, RANDOM_WEIGHTS_THRESHOLD
    if any(p.startswith("onnx") for p in paths):
        export_onnx(model_dir, quantize="int8" if "onnx-int8" in paths else None)
    return name, model_dir, threshold


def bench_speed(
    encoders: Sequence[str] = ("bert-4x768", "bilstm"),
    paths: Sequence[str] = PATHS,
    lengths: Sequence[int] = LENGTHS,
    latency_docs: int = 30,
    mixed_docs: int = 200,
    options: PredictOptions = PredictOptions(),
    workdir: Optional[Path] = None,
    schema_path: Optional[Path] = None,
    progress: bool = False,
) -> dict:
    """Measure every path on every encoder; returns the figures (also what --json writes).

    ``options`` sizes the batches and threads (default threads: one per core); each path sets its
    own runtime and threshold, and the naive path its one-window batches."""
    import tempfile

    from tqdm.auto import tqdm

    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        raise ValueError(f"unknown bench paths {unknown}; expected some of {', '.join(PATHS)}")
    threads = options.threads or default_threads()
    options = replace(options, threads=threads)
    schema = Schema.load(schema_path or PRODUCT_SCHEMA)
    docs = list(generate_documents(max(mixed_docs, 60), seed=11, schema=schema))
    # Every path measures the same texts: fixed lengths for latency, whole résumés for throughput.
    job = {"options": options,
           "latency_texts": {str(n): texts_of_length(n, latency_docs + 3, docs) for n in lengths},
           "mixed_texts": [d.text for d in docs[:mixed_docs]], "warmup": 3}
    own_tmp = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="extractor-bench-")) if own_tmp else Path(workdir)
    results: dict = {
        "machine": {"cpus": default_threads(), "threads": threads, "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "torch": torch.__version__},
        "settings": {"lengths": list(lengths), "latency_docs": latency_docs, "mixed_docs": mixed_docs,
                     "mixed_chars": sum(map(len, job["mixed_texts"])), "batch_size": options.windows_per_batch,
                     "batch_tokens": options.tokens_per_batch, "streams": options.streams or threads},
        "encoders": {},
    }
    try:
        jobs = []
        for encoder in encoders:
            name, model_dir, threshold = prepare_model(encoder, workdir, schema, docs, paths)
            results["encoders"][name] = {"model_dir": str(model_dir), "threshold": threshold, "paths": {}}
            jobs += [dict(job, encoder=name, model_dir=str(model_dir), path=p, threshold=threshold) for p in paths]
        for one in tqdm(jobs, desc="bench", unit="path", disable=not progress):
            log.info("bench %s / %s", one["encoder"], one["path"])
            results["encoders"][one["encoder"]]["paths"][one["path"]] = _run_isolated(one)
    finally:
        if own_tmp:
            shutil.rmtree(workdir, ignore_errors=True)
    for entry in results["encoders"].values():
        entry["summary"] = summarize(entry["paths"])
    return results


def summarize(paths: dict) -> dict:
    """Speed-ups against the naive path, and which optimised runtime is fastest."""
    out: dict = {}
    naive = paths.get("naive")
    optimised = {p: r for p, r in paths.items() if p in RUNTIMES and p != "torch"}
    if optimised:
        best = max(optimised, key=lambda p: optimised[p]["docs_per_s"])
        out["fastest_runtime"] = best
        out["fastest_p50_ms_128"] = optimised[best]["latency"].get("128", {}).get("p50_ms")
    if naive:
        for p, r in paths.items():
            if p != "naive":
                out[f"{p}_throughput_vs_naive"] = round(r["docs_per_s"] / naive["docs_per_s"], 2)
    return out


def format_speed_table(results: dict) -> str:
    lengths = results["settings"]["lengths"]
    head = ["encoder", "path"] + [f"p50/p95 @{n} (ms)" for n in lengths] + ["docs/s", "chars/s", "peak RSS MiB",
                                                                             "x naive"]
    rows = [head]
    for enc, entry in results["encoders"].items():
        naive = entry["paths"].get("naive", {}).get("docs_per_s")
        for path, r in entry["paths"].items():
            lat = [f"{r['latency'][str(n)]['p50_ms']:.1f}/{r['latency'][str(n)]['p95_ms']:.1f}" for n in lengths]
            speedup = f"{r['docs_per_s'] / naive:.1f}" if naive else "-"
            rows.append([enc, path] + lat + [f"{r['docs_per_s']:.1f}", f"{r['chars_per_s']:,}",
                                             f"{r['peak_rss_mib']:.0f}", speedup])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines[:1] + ["-" * len(lines[0])] + lines[1:])


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
