"""How far an ensemble of trained models gets on gold documents: the ceiling that distilling an ensemble
of seeds into one model of today's size (issue 13) could approach, since a student rarely passes its
teachers.

Two ensembles of the same-vocabulary models given: the mean of their span scores (GP/EGP heads; decoded
as one model), and span votes (a span is kept when at least k models predict it, then the flat
decoding's overlap rule). Also the errors every model makes: gold spans none predicts and spans all
predict that are not gold.

    python benchmarks/ensemble_vote.py --gold /tmp/x13/dev.jsonl /tmp/runs/s42 /tmp/runs/s43 /tmp/runs/s44

Prints one JSON line per model and ensemble (micro P/R/F1, document exact match).
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import torch

from extractor.data.documents import Document, Entity, read_documents
from extractor.model.directory import LoadedModel, load_model
from extractor.model.metrics import Scorer
from extractor.model.predict import Predictor, non_overlapping
from extractor.model.runtime import TorchForward

Span = tuple[int, int, str]


class MeanScores(TorchForward):
    """The mean of several models' span scores, for the first model's decoder."""

    def __init__(self, forwards: Sequence[TorchForward]):
        super().__init__(forwards[0].model, forwards[0].threads)
        self.forwards = forwards

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return sum(f(input_ids, attention_mask) for f in self.forwards) / len(self.forwards)


def predictions(loaded: LoadedModel, forward: TorchForward, docs: Sequence[Document]) -> list[list[Entity]]:
    predictor = Predictor(loaded)
    predictor.forward = forward
    return [spans for _, spans in predictor.predict(docs)]


def scored(loaded: LoadedModel, docs: Sequence[Document], predicted: Sequence[Sequence[Entity]]) -> dict:
    scorer = Scorer(loaded.schema, loaded.labels)
    for doc, spans in zip(docs, predicted):
        scorer.add(doc, list(spans))
    result = scorer.result()
    return {"micro": result["micro"], "doc_exact_match": result["doc_exact_match"]}


def voted(per_model: Sequence[Sequence[Sequence[Entity]]], k: int) -> list[list[Entity]]:
    out = []
    for spans_of_models in zip(*per_model):
        votes = Counter((e.start, e.end, e.label) for spans in spans_of_models for e in spans)
        first = {(e.start, e.end, e.label): e for spans in spans_of_models for e in spans}
        out.append(non_overlapping([first[s] for s, n in votes.items() if n >= k]))
    return out


def shared_errors(docs: Sequence[Document], per_model: Sequence[Sequence[Sequence[Entity]]]) -> dict:
    missed, false = Counter(), Counter()
    for i, doc in enumerate(docs):
        gold = {(e.start, e.end, e.label) for e in doc.entities}
        sets = [{(e.start, e.end, e.label) for e in spans[i]} for spans in per_model]
        missed.update(label for *_, label in gold - set.union(*sets))
        false.update(label for *_, label in set.intersection(*sets) - gold)
    return {"gold": sum(len(d.entities) for d in docs), "missed_by_all": dict(missed.most_common()),
            "false_in_all": dict(false.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, required=True, help="gold documents (.jsonl)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("models", nargs="+", type=Path, help="model directories with the same vocabulary")
    args = parser.parse_args()
    models = [load_model(m) for m in args.models]
    docs = list(read_documents(args.gold, models[0].labels))
    # Scores line up only when every model reads the same token ids (vocabulary, word tags, offsets).
    encoded = [[m.tokenizer.encode(d.text) for d in docs] for m in models]
    if any(e != encoded[0] for e in encoded[1:]):
        raise SystemExit("error: the models encode the documents differently; their span scores cannot be averaged")
    forwards = [TorchForward(m.model, args.threads) for m in models]
    per_model = [predictions(m, f, docs) for m, f in zip(models, forwards)]
    for path, spans in zip(args.models, per_model):
        print(json.dumps({"model": str(path), **scored(models[0], docs, spans)}))
    print(json.dumps({"model": "mean scores", **scored(models[0], docs, predictions(models[0], MeanScores(forwards),
                                                                                       docs))}))
    for k in range(1, len(models) + 1):
        print(json.dumps({"model": f"votes >= {k}", **scored(models[0], docs, voted(per_model, k))}))
    print(json.dumps(shared_errors(docs, per_model), ensure_ascii=False))


if __name__ == "__main__":
    main()
