"""Throughput of `extractor run --engine ray` at 1 and 2 actors, and of the local runner for reference
(docs/benchmarks.md).

    OMP_NUM_THREADS=1 python benchmarks/ray_throughput.py --work /tmp/ray-bench --docs 1000 --actors 1 2

Writes WORK/input/part-*.parquet (the sample generator's documents, doc_id and text, split over
--files files so Ray can read them in parallel), trains the demo's model into WORK/model unless one is
there (what `extractor demo` trains: BiLSTM with 64-dim embeddings and 128 hidden units, 2 layers,
256-token windows, 600 training and 100 dev documents, at most 8 epochs in 4 minutes; trained enough to
find the fields, so the runs write field values as in production), then runs the Parquet pipeline
(`pipelines/parquet.yaml`) with --full-refresh and a fresh state database:

- local: `Runner` in this process, one torch thread;
- ray N: a fresh local Ray instance of N + 1 logical CPUs (one per actor, one left for the reads, as the
  engine requires), `RayRunner` with ray.concurrency N, num_cpus_per_actor 1 (one torch thread per actor).

Each run's wall time covers everything `extractor run` does after start-up (both Ray passes, the
commits, the sinks); Ray's own start-up (`ray.init`) is timed apart. One JSON line per run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from extractor.paths import REPO_ROOT

ROOT = REPO_ROOT
DEMO_ENCODER = {"embed_dim": 64, "hidden_size": 128, "bigram_buckets": 20000}  # extractor/nightly/demo.py's model


def write_input(directory: Path, n: int, files: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from extractor.data.sample import generate_documents

    directory.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string())])
    docs = [{"doc_id": d.doc_id, "text": d.text} for d in generate_documents(n, seed=seed)]
    per_file = -(-n // files)
    for i in range(files):
        pq.write_table(pa.Table.from_pylist(docs[i * per_file:(i + 1) * per_file], schema=schema),
                       directory / f"part-{i:02d}.parquet")


def train_demo_model(out: Path, minutes: float) -> None:
    """As extractor/nightly/demo.py's prepare_demo trains it."""
    from extractor.data.sample import generate_documents
    from extractor.model.train import TrainConfig, train
    from extractor.rules.schema import Schema

    cfg = TrainConfig(epochs=8, max_minutes=minutes, seed=0, patience=3, encoder_options=DEMO_ENCODER)
    train(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), list(generate_documents(600, seed=1)),
          list(generate_documents(100, seed=2)), out)


def config(work: Path, name: str, actors: int, batch_size: int):
    from extractor.nightly.config import load_pipeline

    state = work / f"state-{name}"
    shutil.rmtree(state, ignore_errors=True)
    return load_pipeline(ROOT / "pipelines" / "parquet.yaml", {
        "source.path": str(work / "input"), "source.columns.gold_entities": "", "model": str(work / "model"),
        "schema": str(ROOT / "schemas" / "resume_nightly.yaml"), "database": f"sqlite:///{state}/state.db",
        "sinks": f"[{{type: parquet, path: {state}/fields.parquet}}]", "report.directory": "",
        "ray": json.dumps({"concurrency": max(actors, 1), "num_cpus_per_actor": 1, "batch_size": batch_size})})


def field_values(cfg) -> int:
    from sqlalchemy import create_engine, func, select

    from extractor.nightly import database as db

    with create_engine(cfg.database).connect() as conn:
        return conn.execute(select(func.count()).select_from(db.field_values)).scalar_one()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ray-bench"))
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=256, help="ray.batch_size: documents per actor call")
    ap.add_argument("--no-local", action="store_true", help="skip the local reference run")
    ap.add_argument("--train-minutes", type=float, default=4.0)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)  # the local runner's (and the driver's) torch threads, as with --threads 1
    args.work.mkdir(parents=True, exist_ok=True)
    if not (args.work / "input").exists():
        write_input(args.work / "input", args.docs, args.files)
    if not (args.work / "model" / "config.json").exists():
        t = time.time()
        train_demo_model(args.work / "model", args.train_minutes)
        print(f"trained the demo model in {time.time() - t:.0f}s", file=sys.stderr)

    from extractor.nightly.runner import Runner

    runs = ([("local", 0)] if not args.no_local else []) + [("ray", n) for n in args.actors]
    for engine, actors in runs:
        cfg = config(args.work, f"{engine}{actors or ''}", actors, args.batch_size)
        extra: dict = {}
        if engine == "local":
            start = time.perf_counter()
            summary = Runner(cfg, full_refresh=True).run()
        else:
            import ray

            from extractor.nightly.ray_engine import RayRunner

            t = time.perf_counter()
            ray.init(num_cpus=actors + 1, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            extra["ray_init_s"] = round(time.perf_counter() - t, 1)
            try:
                runner = RayRunner(cfg, full_refresh=True)
                start = time.perf_counter()
                summary = runner.run()
                extra.update({k: round(v, 2) for k, v in runner.timings.items()})
            finally:
                ray.shutdown()
        wall = time.perf_counter() - start
        print(json.dumps({"engine": engine, "actors": actors or None, "docs": summary.n_processed,
                          "windows": summary.n_windows, "values": field_values(cfg), "wall_s": round(wall, 1),
                          "docs_per_s": round(summary.n_processed / wall, 1), **extra}), flush=True)


if __name__ == "__main__":
    main()
