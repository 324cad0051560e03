"""Cost of the heads alone: one training step (forward, loss, backward) of each head on fixed
encoder outputs, no encoder (docs/benchmarks.md, GlobalPointer vs a CRF head).

    OMP_NUM_THREADS=1 python benchmarks/head_step.py --batch 16 --lengths 64 160 256 --threads 1

The encoder output h (batch, length, hidden) is random; every window carries 10 gold spans
of 4 tokens (no overlaps, so both heads learn the same spans). Prints milliseconds per step,
the median of --repeats steps after one warm-up step.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from extractor.model.heads import build_head, head_spec


def step_ms(head: torch.nn.Module, h: torch.Tensor, mask: torch.Tensor, gold: list, repeats: int) -> float:
    def step() -> None:
        out = head(h, mask)
        head.loss(out, gold, mask).backward()

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 160, 256])
    parser.add_argument("--hidden", type=int, default=512, help="the default BiLSTM's output width")
    parser.add_argument("--types", type=int, default=8, help="Chinese Resume NER has 8")
    parser.add_argument("--heads", nargs="+", default=["gp", "egp", "crf"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for T in args.lengths:
        torch.manual_seed(0)
        h = torch.randn(args.batch, T, args.hidden, requires_grad=True)
        mask = torch.ones(args.batch, T, dtype=torch.long)
        gold = [[(k % args.types, t, t + 3) for k, t in enumerate(range(0, min(T - 3, 100), 10))]] * args.batch
        row = {"length": T}
        for name in args.heads:
            row[name] = round(step_ms(build_head(head_spec(name), args.hidden, args.types), h, mask, gold,
                                      args.repeats), 1)
        rows.append(row)
        print(json.dumps(row))
    print(json.dumps({"batch": args.batch, "hidden": args.hidden, "types": args.types, "threads": args.threads,
                      "unit": "ms per training step of the head alone", "rows": rows}))


if __name__ == "__main__":
    main()
