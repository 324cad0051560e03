"""Masked-character pretraining of the default BiLSTM encoder on unlabelled text, then `extractor train`'s
defaults from those weights (issue 13's self-supervised direction, measured on Resume NER dev).

Pretraining: 15% of the characters are replaced by [UNK] (their word-place tags stay, so the hashed bigrams
see [UNK] too and nothing leaks the character), and the encoder's states predict them through a projection
tied to the character embeddings. A masked objective rather than a left-to-right one: the second BiLSTM
layer reads both directions of the first, so every state has seen the whole window. The vocabulary is the
one `extractor train` builds from the training documents; characters of other texts outside it are [UNK]
and are never targets. Then `train()` runs with the default config from the pretrained encoder weights.

    python benchmarks/pretrain_mlm.py --train /tmp/x13/train.jsonl --dev /tmp/x13/dev.jsonl \\
        --companies ../shared/data/companies/listed_companies.csv --minutes 8 --seed 42 --out /tmp/runs/pre_s42

Nothing here goes into the repository; the model directory goes to ``--out``.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from extractor.data.documents import read_documents
from extractor.model.train import TrainConfig, starting_model, train
from extractor.paths import SCHEMAS_DIR
from extractor.rules.schema import Schema

CHUNK = 200  # characters per pretraining sequence
BATCH = 32


def sequences(tokenizer, texts: list[str]) -> list[list[int]]:
    out = []
    for text in texts:
        ids, _ = tokenizer.encode(text)
        out += [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    return out


def padded(batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.zeros(len(batch), max(map(len, batch)), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, seq in enumerate(batch):
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
    return ids, mask


def pretrain(loaded, texts: list[str], minutes: float, mask_rate: float, lr: float, seed: int) -> dict:
    """Masked-character training of ``loaded``'s encoder for ``minutes``; returns its state dict."""
    tokenizer, encoder = loaded.tokenizer, loaded.model.encoder
    seqs = sequences(tokenizer, texts)
    print(f"{len(seqs)} sequences, {sum(map(len, seqs))} characters", file=sys.stderr)
    projection = nn.Linear(encoder.hidden_size, encoder.char_embed.embedding_dim)
    bias = nn.Parameter(torch.zeros(encoder.char_embed.num_embeddings))
    params = list(encoder.parameters()) + list(projection.parameters()) + [bias]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    rng, tags = random.Random(seed), tokenizer.word_tag_count or 1
    started, step = time.perf_counter(), 0
    encoder.train()
    while time.perf_counter() - started < minutes * 60:
        rng.shuffle(seqs)
        total, n = 0.0, 0
        for b in range(0, len(seqs), BATCH):
            ids, mask = padded(seqs[b : b + BATCH])
            chars = ids // tags
            picked = (torch.rand(ids.shape) < mask_rate) & mask.bool() & (chars != tokenizer.unk_id)
            if not picked.any():
                continue
            masked = torch.where(picked, tokenizer.unk_id * tags + ids % tags, ids)
            states = encoder(masked, mask)[picked]
            logits = projection(states) @ encoder.char_embed.weight.t() + bias
            loss = F.cross_entropy(logits, chars[picked])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimizer.step()
            total, n, step = total + loss.item(), n + 1, step + 1
            if time.perf_counter() - started > minutes * 60:
                break
        print(f"pretrain {time.perf_counter() - started:.0f} s, step {step}, loss {total / max(n, 1):.3f}",
              file=sys.stderr)
    return {k: v.detach().clone() for k, v in encoder.state_dict().items()}


def company_names(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["full_name"] for r in rows if r["full_name"]] + [r["short_name"] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--companies", type=Path, help="also pretrain on a company table's names (CSV)")
    parser.add_argument("--schema", type=Path, default=SCHEMAS_DIR / "resume_ner.yaml")
    parser.add_argument("--minutes", type=float, default=8.0, help="pretraining time")
    parser.add_argument("--finetune-minutes", type=float, default=19.0, help="train's --max-minutes")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mask", type=float, default=0.15)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    schema = Schema.load(args.schema)
    train_docs = list(read_documents(args.train, schema.labels))
    dev_docs = list(read_documents(args.dev, schema.labels))
    cfg = TrainConfig(seed=args.seed, max_minutes=args.finetune_minutes)
    loaded = starting_model(cfg, schema, train_docs)
    texts = [d.text for d in train_docs] + (company_names(args.companies) if args.companies else [])
    state = pretrain(loaded, texts, args.minutes, args.mask, args.lr, args.seed)
    metrics = train(cfg, schema, train_docs, dev_docs, args.out, progress=False, encoder_state=state)
    curve = [round(row["dev_micro_f1"] * 100, 2) for row in metrics["history"]]
    print(json.dumps({"seed": args.seed, "best_epoch": metrics["best_epoch"], "dev_micro": metrics["dev"]["micro"],
                      "curve": curve}, ensure_ascii=False))


if __name__ == "__main__":
    main()
