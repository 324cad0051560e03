"""Scoring a model on gold documents: the one loop behind training's dev evaluation and ``extractor evaluate``."""
from __future__ import annotations

from typing import Iterable

from extractor.data.documents import Document
from extractor.model.directory import LoadedModel
from extractor.model.metrics import Scorer
from extractor.model.predict import PredictOptions, Predictor


def evaluate_model(loaded: LoadedModel, docs: Iterable[Document], options: PredictOptions = PredictOptions(),
                   progress: bool = False) -> dict:
    """Span P/R/F1 per label and micro, field metrics and document exact match (``Scorer.result``)."""
    from tqdm.auto import tqdm

    scorer = Scorer(loaded.schema, loaded.labels)
    predicted = Predictor(loaded, options).predict(docs)
    for doc, spans in tqdm(predicted, desc="evaluate", unit="doc", disable=not progress):
        scorer.add(doc, spans)
    return scorer.result()
