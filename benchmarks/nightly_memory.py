"""Peak memory of `extractor run` on the Parquet pipeline at two input sizes (docs/benchmarks.md).

    python benchmarks/nightly_memory.py --work /tmp/nightly-bench --docs 100000 --limits 10000 100000

Writes WORK/resumes.parquet (the sample generator's documents, written in chunks),
trains a tiny model into WORK/model unless present (memory, not accuracy, is measured),
then runs `extractor run pipelines/parquet.yaml --limit N` in a fresh process with a
fresh state database for each N and prints its peak RSS (ru_maxrss), wall time and counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from extractor.paths import REPO_ROOT

ROOT = REPO_ROOT
TINY = {"embed_dim": 16, "hidden_size": 16, "num_layers": 1, "bigram_buckets": 512, "dropout": 0.0}


# The run in its own process, reporting that process's own peak resident set size as it exits.
PEAK_WRAPPER = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
    "from extractor.cli import main\n"
    "sys.argv[0] = 'extractor'\n"
    "main()\n"
)


def write_parquet(path: Path, n: int, seed: int = 0, chunk: int = 5000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from extractor.data.sample import generate_documents

    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string())])
    rows = []
    with pq.ParquetWriter(path, schema) as writer:
        for doc in generate_documents(n, seed=seed):
            rows.append({"doc_id": doc.doc_id, "text": doc.text})
            if len(rows) >= chunk:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def train_tiny(out: Path) -> None:
    from extractor.data.sample import generate_documents
    from extractor.model.train import TrainConfig, train
    from extractor.rules.schema import Schema

    docs = list(generate_documents(48, seed=7))
    cfg = TrainConfig(epochs=1, seed=1, max_tokens=64, stride=48, head_size=16, encoder_options=TINY)
    train(cfg, Schema.load(ROOT / "schemas" / "resume.yaml"), docs[:40], docs[40:], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/nightly-bench"))
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--limits", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--threshold", type=float, default=4.0,
                    help="span score cut: keeps the barely trained model's output to a few spans per document")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / "resumes.parquet"
    if not source.exists():
        t = time.time()
        write_parquet(source, args.docs)
        print(f"wrote {args.docs} documents to {source} in {time.time() - t:.0f}s", file=sys.stderr)
    if not (args.work / "model" / "config.json").exists():
        train_tiny(args.work / "model")
    for limit in args.limits:
        state = args.work / f"state-{limit}"
        shutil.rmtree(state, ignore_errors=True)
        # One torch thread: on a shared 2-core machine more threads only fight over the cores.
        cmd = [sys.executable, "-c", PEAK_WRAPPER, "--threads", str(args.threads), "run", str(ROOT / "pipelines" / "parquet.yaml"),
               "--limit", str(limit), "--set", f"database=sqlite:///{state}/state.db",
               "--set", f"sinks=[{{type: parquet, path: {state}/fields.parquet}}, {{type: csv, path: {state}/fields.csv}}]",
               "--set", "source.columns.gold_entities=", "--set", f"threshold={args.threshold}",
               "--set", "window.max_tokens=64", "--set", "window.stride=48"]
        env = dict(os.environ, EXTRACTOR_WORKDIR=str(args.work), PYTHONPATH=str(ROOT))
        t = time.time()
        out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        wall = time.time() - t
        if out.returncode != 0:
            sys.exit(out.stderr[-3000:])
        peak_kib = int(out.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps({"limit": limit, "peak_rss_mib": round(peak_kib / 1024, 1),
                          "wall_s": round(wall, 1),
                          "docs_per_s": round(summary["n_read"] / wall, 1),
                          **{k: summary[k] for k in ("n_read", "n_processed", "n_quarantined", "n_windows")}}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
