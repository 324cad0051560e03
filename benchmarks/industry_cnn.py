"""Issue 10's other classifier: a small character CNN against the product's character n-gram model,
on the same companies held out of the same table (the split of ``industry_resolver.py``).

The CNN reads the normalised full name (the n-gram model's ``keys.full``) as characters: embeddings,
convolutions of widths 2, 3 and 4, max-pooling over positions, dropout, a linear layer to the
sections; Adam, a fixed number of epochs, the epoch chosen by loss on a 10% calibration split of the
training companies (never the held-out ones). Nothing is saved: this measures whether the CNN should
replace the n-gram model.

    python benchmarks/industry_cnn.py --companies ../shared/data/companies/listed_companies.csv
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from industry_resolver import REAL_MAPPING  # noqa: E402  (the benchmarks folder is not a package)

from extractor.rules.industry.classifier import (  # noqa: E402
    company_examples, evaluate_probabilities, fit_classifier, split_companies)
from extractor.rules.industry.names import name_keys  # noqa: E402
from extractor.rules.industry.table import CompanyTable  # noqa: E402


class CharCNN(nn.Module):
    def __init__(self, vocab: int, sections: int, dim: int = 64, filters: int = 128, dropout: float = 0.3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(dim, filters, width, padding=width - 1) for width in (2, 3, 4))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(3 * filters, sections)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids).transpose(1, 2)  # (B, dim, T)
        pad = (ids == 0)[:, None, :]
        pooled = []
        for conv in self.convs:
            y = torch.relu(conv(x))[..., : ids.shape[1]].masked_fill(pad, 0.0)
            pooled.append(y.max(-1).values)
        return self.out(self.dropout(torch.cat(pooled, -1)))


def encode(names: list[str], vocab: dict[str, int]) -> torch.Tensor:
    texts = [f"^{name_keys(n).full}$" for n in names]
    width = max(len(t) for t in texts)
    ids = torch.zeros(len(texts), width, dtype=torch.long)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = torch.tensor([vocab.get(c, 1) for c in text])
    return ids


def fit_cnn(names: list[str], labels: list[int], n_sections: int, epochs: int,
            seed: int) -> tuple[CharCNN, dict[str, int], dict]:
    """The fitted CNN (the epoch with the lowest loss on the calibration split), its character vocabulary, and
    what to report of the fit."""
    torch.manual_seed(seed)
    order = list(range(len(names)))
    random.Random(seed).shuffle(order)
    cut = len(order) // 10
    calib, train = order[:cut], order[cut:]
    vocab: dict[str, int] = {"<pad>": 0, "<unk>": 1}
    for i in train:
        for c in f"^{name_keys(names[i]).full}$":
            vocab.setdefault(c, len(vocab))
    x_train, y_train = encode([names[i] for i in train], vocab), torch.tensor([labels[i] for i in train])
    x_calib, y_calib = encode([names[i] for i in calib], vocab), torch.tensor([labels[i] for i in calib])
    model = CharCNN(len(vocab), n_sections)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(train)).split(64):
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            calib_loss = nn.functional.cross_entropy(model(x_calib), y_calib).item()
        if calib_loss < best:
            best, best_state = calib_loss, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, vocab, {"calibration_nll": round(best, 4), "vocab": len(vocab)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=Path, required=True, help="listed_companies.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = CompanyTable.from_csv(args.companies, REAL_MAPPING)
    _, held = split_companies(table, 0.2, args.seed)
    started = time.perf_counter()
    ngram = fit_classifier(table.without(held))
    ngram_seconds = time.perf_counter() - started
    sections = ngram.sections
    kept = company_examples(table, {r.company_id for r in table.records} - held, sections)
    test = company_examples(table, held, sections)
    truth = np.array(test.labels)
    ngram_probabilities = ngram.predict_proba(test.names)
    started = time.perf_counter()
    cnn, vocab, info = fit_cnn(kept.names, kept.labels, len(sections), args.epochs, args.seed)
    cnn_seconds = time.perf_counter() - started
    with torch.no_grad():
        cnn_probabilities = torch.softmax(cnn(encode(test.names, vocab)), -1).numpy()
    results = {"held_out_companies": len(held), "held_out_names": len(test.names), "train_names": len(kept.names)}
    for name, probabilities, seconds in (("ngram", ngram_probabilities, ngram_seconds),
                                         ("cnn", cnn_probabilities, cnn_seconds)):
        evaluation = evaluate_probabilities(probabilities, truth)
        results[name] = {key: round(value, 4) for key, value in dataclasses.asdict(evaluation).items()}
        results[name]["fit_seconds"] = round(seconds, 1)
    results["cnn"].update(info)
    both = (ngram_probabilities + cnn_probabilities) / 2
    results["mean_of_both"] = {"accuracy": round(float((both.argmax(1) == truth).mean()), 4)}
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
