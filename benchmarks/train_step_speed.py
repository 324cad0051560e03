"""Seconds per training step of the default model (BiLSTM + GlobalPointer, auxiliary CRF loss) on real
documents: builds the untrained model, takes length-bucketed batches, runs 5 warm-up steps, then times
``--steps`` steps of zero_grad, backward_step and optimizer.step. Reports wall and CPU seconds.

``--repo DIR`` imports the ``extractor`` package from another checkout (e.g. a git worktree of an
older commit), so two versions of the training code can be timed on the same machine:

    git worktree add /tmp/old 4fed2a6
    python benchmarks/train_step_speed.py --train /tmp/x13/train.jsonl --repo /tmp/old
    python benchmarks/train_step_speed.py --train /tmp/x13/train.jsonl
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="training documents (.jsonl)")
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--schema", type=Path, default=root / "schemas" / "resume_ner.yaml")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repo", type=Path, help="checkout to import extractor from (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str((args.repo or root).resolve()))
    from extractor.data.documents import read_documents
    from extractor.model import train as training
    from extractor.rules.schema import Schema

    schema = Schema.load(args.schema)
    docs = list(read_documents(args.train, schema.labels))
    cfg = training.TrainConfig()
    training.seed_everything(1)
    loaded = training.build_untrained(cfg, schema, docs)
    optimizer, aux = training.make_optimizer(cfg, loaded)
    batches = training.bucketed_batches(training.training_windows(docs, loaded, cfg), cfg.batch_size,
                                        random.Random(0))[: args.steps + 5]
    loaded.model.train()

    def steps(chosen):
        for batch in chosen:
            optimizer.zero_grad(set_to_none=True)
            training.backward_step(loaded, batch, cfg, aux)
            optimizer.step()

    steps(batches[:5])
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    steps(batches[5:])
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"code": str(args.repo or "this checkout"), "steps": len(batches) - 5,
                      "wall_seconds": round(time.perf_counter() - started, 1),
                      "user_seconds": round(after.ru_utime - before.ru_utime, 1),
                      "sys_seconds": round(after.ru_stime - before.ru_stime, 1)}))


if __name__ == "__main__":
    main()
